"""Sharding by label (STASHSYNC_SHARD_SELECTOR): two operators split the SyncedSecrets between them."""

from __future__ import annotations

import pytest

from stashsync.cli.main import main as cli
from tests.harness.kube import Kube
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready
from tests.integration.test_replicas import _handled
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration


def test_two_shards_split_the_objects_by_label(kube: Kube, operator: OperatorProcess, namespace: str,
                                               table: str) -> None:
    assert cli(["put", "-t", table, "shard.key", plaintext("sharded-value")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    operator.stop()
    shards = {selector: OperatorProcess(operator.folder.parent / f"operator-shard-{i}", operator.kubeconfig,
                                        operator.aws_env, operator.namespace,
                                        extra_env={"STASHSYNC_SHARD_SELECTOR": selector})
              for i, selector in enumerate(("stashsync.dev/shard=a", "!stashsync.dev/shard"))}
    try:
        for shard in shards.values():
            shard.start()
        for name, labels in (("in-a", {"stashsync.dev/shard": "a"}), ("unlabelled", {})):
            ssec = synced_secret(name, "main", [{"key": "k", "name": "shard.key"}])
            ssec["metadata"]["labels"] = labels
            kube.apply(ssec, namespace)
        for name in ("in-a", "unlabelled"):
            wait_ready(kube, namespace, name)
            assert kube.secret_data(namespace, name) == {"k": "sharded-value"}
        a, rest = (shards[s].log.read_text() for s in ("stashsync.dev/shard=a", "!stashsync.dev/shard"))
        assert _handled(a, "in-a", namespace) and not _handled(a, "unlabelled", namespace)
        assert _handled(rest, "unlabelled", namespace) and not _handled(rest, "in-a", namespace)
    finally:
        for shard in shards.values():
            shard.stop()
        operator.start()
