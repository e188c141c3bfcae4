"""Scenario 6: `replicas: 2`. The chart's two operator pods land on the two nodes (their hostNetwork
ports would clash on one); one acts, the other stands by; deleting the active pod hands over."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.e2e.conftest import record
from tests.e2e.helpers import cluster_store_ref, namespace_with_store, stashsync
from tests.harness.cluster import OPERATOR_NAMESPACE, OPERATOR_PODS, LocalCluster
from tests.harness.leaks import plaintext
from tests.harness.ports import wait_until
from tests.objects import synced_secret

NAMESPACE = "e2e-replicas"


def peers(cluster: LocalCluster) -> dict[str, dict[str, Any]]:
    peering = json.loads(cluster.kubectl("get", "clusterkopfpeering", "stashsync", "-o", "json"))
    return dict(peering.get("status") or {})


def log(cluster: LocalCluster, pod: str) -> str:
    return cluster.kubectl("logs", "-n", OPERATOR_NAMESPACE, pod, check=False)


def handled(cluster: LocalCluster, pod: str, name: str) -> bool:
    """Whether a replica's (JSON) log shows a handler run for the SyncedSecret `name`."""
    return f'"name": "{name}"' in log(cluster, pod)


def test_two_replicas_one_acts_and_the_standby_takes_over_when_the_active_pod_is_deleted(
        operator_release: LocalCluster, aws_env: dict[str, str], table: str) -> None:
    cluster = operator_release
    stashsync("put", "-t", table, "app.key", plaintext("e2e-replicated-value"), env=aws_env)
    store = namespace_with_store(cluster, NAMESPACE, table)
    cluster.install_operator(replicas=2)
    try:
        takeover(cluster, store)
    finally:
        cluster.install_operator(replicas=1)  # back to what the other scenarios expect, whatever happened


def takeover(cluster: LocalCluster, store: str) -> None:
    pods = cluster.pods(OPERATOR_NAMESPACE, OPERATOR_PODS)
    assert sorted(pod["spec"]["nodeName"] for pod in pods) == ["127.0.0.1", "127.0.0.2"]
    names = {pod["metadata"]["name"] for pod in pods}
    wait_until(lambda: set(peers(cluster)) == names, 60, "both replicas in the peering object")
    # The highest priority acts; the chart names each peer after its pod.
    active, standby = sorted(names, key=lambda name: peers(cluster)[name]["priority"], reverse=True)

    def synced(name: str) -> None:
        ssec = synced_secret(name, store, [{"key": "k", "name": "app.key"}], target={"name": name})
        ssec["spec"]["storeRef"] = cluster_store_ref(store)
        cluster.apply(ssec, namespace=NAMESPACE)

    synced("before")
    cluster.wait("syncedsecret/before", "condition=Ready", NAMESPACE)
    assert handled(cluster, active, "before") and not handled(cluster, standby, "before")

    cluster.keep_operator_logs()
    deleted_at = time.monotonic()
    # Until its container has exited, a deleted pod may still act: the new object comes once it is gone.
    cluster.kubectl("delete", "pod", "-n", OPERATOR_NAMESPACE, active, "--timeout=60s")
    synced("after")
    cluster.wait("syncedsecret/after", "condition=Ready", NAMESPACE, timeout=120)
    record("takeover: active pod deleted (graceful) to a new SyncedSecret Ready (2 replicas)",
           f"{time.monotonic() - deleted_at:.1f} s")
    # The standby resumed; the Deployment's replacement pod may outrank it and act from then on, but
    # only one of the two ever handled the new object.
    assert "Resuming operations" in log(cluster, standby)
    live = [pod["metadata"]["name"] for pod in cluster.pods(OPERATOR_NAMESPACE, OPERATOR_PODS)]
    assert sum(handled(cluster, name, "after") for name in live) == 1
