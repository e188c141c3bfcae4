"""Scenarios 2 and 3: a SyncedSecret (credstash on moto) becomes a Secret that an app pod reads as env
and as a mounted file; `stashsync put -a` rotates it and the real Deployment controller rolls the app
exactly once, the new pod seeing the new value."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import record
from tests.e2e.helpers import app_deployment, cluster_store_ref, namespace_with_store, stashsync
from tests.harness.cluster import LocalCluster
from tests.harness.leaks import plaintext
from tests.harness.ports import wait_until
from tests.objects import synced_secret

NAMESPACE = "e2e-app"
PRINTS = 'echo "env=$DB_PASSWORD file=$(cat /secrets/password)"; exec sleep 3600'


def app_logs(cluster: LocalCluster) -> list[str]:
    """What each of the app's pods printed, oldest pod first."""
    return [cluster.kubectl("logs", "-n", NAMESPACE, pod["metadata"]["name"], check=False).strip()
            for pod in cluster.pods(NAMESPACE, "app=app")]


def replica_sets(cluster: LocalCluster) -> list[str]:
    out = json.loads(cluster.kubectl("get", "replicasets", "-n", NAMESPACE, "-l", "app=app", "-o", "json"))
    return [rs["metadata"]["name"] for rs in out["items"]]


def test_a_synced_secret_reaches_an_app_pod_and_a_new_version_rolls_it_exactly_once(
        operator_release: LocalCluster, aws_env: dict[str, str], table: str) -> None:
    cluster = operator_release
    first, second = plaintext("e2e-first-password"), plaintext("e2e-second-password")
    stashsync("put", "-t", table, "app.db.password", first, env=aws_env)
    store = namespace_with_store(cluster, NAMESPACE, table)
    ssec = synced_secret("app-db", store, [{"key": "password", "name": "app.db.password"}],
                         refreshInterval="2s", target={"name": "app-db"},
                         rolloutRestartTargets=[{"kind": "Deployment", "name": "app"}])
    ssec["spec"]["storeRef"] = cluster_store_ref(store)
    cluster.apply(ssec, namespace=NAMESPACE)
    cluster.wait("syncedsecret/app-db", "condition=Ready", NAMESPACE)

    env = [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "app-db", "key": "password"}}}]
    cluster.apply(app_deployment("app", ["sh", "-c", PRINTS], env, secret_volume="app-db"), namespace=NAMESPACE)
    cluster.kubectl("rollout", "status", "-n", NAMESPACE, "deployment/app", "--timeout=120s")
    wait_until(lambda: app_logs(cluster) == [f"env={first} file={first}"], 60, "the app printing its secret")
    assert len(replica_sets(cluster)) == 1

    put_at = time.monotonic()
    stashsync("put", "-t", table, "-a", "app.db.password", second, env=aws_env)
    wait_until(lambda: app_logs(cluster) == [f"env={second} file={second}"], 120, "the new pod with the new value",
               interval=0.1)
    record("rollout: `stashsync put -a` to the new pod running with the new value",
           f"{time.monotonic() - put_at:.1f} s (refreshInterval 2s)")
    cluster.kubectl("rollout", "status", "-n", NAMESPACE, "deployment/app", "--timeout=60s")
    time.sleep(6)  # three more refreshes: the same version must not restart the app again
    assert len(replica_sets(cluster)) == 2
    deployment = json.loads(cluster.kubectl("get", "deployment", "-n", NAMESPACE, "app", "-o", "json"))
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    events = json.loads(cluster.kubectl("get", "events", "-n", NAMESPACE, "--field-selector",
                                        "reason=RolloutRestarted", "-o", "json"))["items"]
    assert sum(event.get("count") or 1 for event in events) == 1
