"""Two replicas peering (kopf peering, as the chart runs them with replicas > 1): only the one with
the higher priority acts; when it dies, the other takes over."""

from __future__ import annotations

import json
import uuid

import pytest

from stashsync.cli.main import main as cli
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.metrics import samples
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration


def _handled(log: str, name: str, namespace: str) -> bool:
    """Whether an operator's JSON log shows a handler run for the SyncedSecret namespace/name."""
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        obj = entry.get("object") or {}
        if obj.get("kind") == "SyncedSecret" and obj.get("name") == name and obj.get("namespace") == namespace:
            return True
    return False


def synced_by(operator: OperatorProcess, namespace: str, name: str) -> float:
    """When this operator last synced the SyncedSecret successfully (0: never). A sync that finds the
    Secret as it should be logs nothing (kopf's per-handler lines are DEBUG), so logs cannot tell."""
    metric = "stashsync_last_success_timestamp_seconds"
    return sum(s.value for s in samples(operator.scrape(metric), metric, kind="SyncedSecret", namespace=namespace)
               if s.labels.get("name") == name)


def test_only_the_higher_priority_replica_acts_and_the_other_takes_over(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    peering = f"stashsync-{uuid.uuid4().hex[:6]}"
    kube.apply({"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": peering}})
    assert cli(["put", "-t", table, "peer.key", plaintext("peered-value")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    operator.stop()
    replicas = [OperatorProcess(operator.folder.parent / f"operator-replica-{priority}", operator.kubeconfig,
                                operator.aws_env, operator.namespace,
                                extra_env={"STASHSYNC_PEERING": peering, "STASHSYNC_PRIORITY": str(priority),
                                           "STASHSYNC_PEERING_LIFETIME": "10"})
                for priority in (100, 200)]
    standby, active = replicas
    try:
        for replica in replicas:
            replica.start()
        wait_for(lambda: "Pausing operations in favour of" in standby.log.read_text(), 60, "the standby to pause")
        kube.apply(synced_secret("first", "main", [{"key": "k", "name": "peer.key"}]), namespace)
        wait_ready(kube, namespace, "first")
        assert _handled(active.log.read_text(), "first", namespace)
        assert not _handled(standby.log.read_text(), "first", namespace) and not synced_by(standby, namespace, "first")

        assert active.process is not None
        active.process.kill()  # a node failure: no goodbye in the peering object
        kube.apply(synced_secret("second", "main", [{"key": "k", "name": "peer.key"}]), namespace)
        wait_ready(kube, namespace, "second", timeout=90)  # after the dead replica's 10 s heartbeat expires
        assert "Resuming operations" in standby.log.read_text()
        assert kube.secret_data(namespace, "second") == {"k": "peered-value"}
    finally:
        for replica in replicas:
            replica.stop()
        operator.start()
