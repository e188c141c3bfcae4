"""Sharding by label (STASHSYNC_SHARD_SELECTOR): two operators split the SyncedSecrets between them."""

from __future__ import annotations

import pytest

from stashsync.cli.main import main as cli
from stashsync.kube.labels import FORCE_SYNC_ANNOTATION
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready
from tests.integration.test_replicas import _handled, synced_by
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
        a_shard, rest_shard = shards["stashsync.dev/shard=a"], shards["!stashsync.dev/shard"]
        assert _handled(a, "in-a", namespace) and not synced_by(a_shard, namespace, "unlabelled")
        assert _handled(rest, "unlabelled", namespace) and not synced_by(rest_shard, namespace, "in-a")

        # Relabelled out of shard a: the other shard takes it over, and shard a syncs it no more.
        moved = synced_secret("in-a", "main", [{"key": "k", "name": "shard.key"}])
        moved["metadata"]["labels"] = {}
        kube.apply(moved, namespace)
        a_log = a_shard.log
        wait_for(lambda: synced_by(rest_shard, namespace, "in-a") > 0, 60, "the other shard to take in-a over")
        seen_by_a, a_synced = len(a_log.read_text()), synced_by(a_shard, namespace, "in-a")
        assert cli(["put", "-a", "-t", table, "shard.key", plaintext("moved-value")]) == 0
        moved["metadata"]["annotations"] = {FORCE_SYNC_ANNOTATION: "after-move"}
        kube.apply(moved, namespace)
        wait_for(lambda: kube.secret_data(namespace, "in-a") == {"k": "moved-value"}, 60, "the moved object synced")
        assert not _handled(a_log.read_text()[seen_by_a:], "in-a", namespace)
        assert synced_by(a_shard, namespace, "in-a") == a_synced
    finally:
        for shard in shards.values():
            shard.stop()
        operator.start()
