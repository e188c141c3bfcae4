"""Scenario 7: deleting SyncedSecrets while the real garbage collector runs (kube-controller-manager):
with deletionPolicy Delete the Secret goes exactly once, whichever of the operator or the collector
gets there (background and foreground cascades); with Retain the collector does not take it either.
No Warning event, no error in the operator's log."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.helpers import cluster_store_ref, namespace_with_store, stashsync
from tests.harness.cluster import OPERATOR_NAMESPACE, OPERATOR_PODS, LocalCluster
from tests.harness.leaks import plaintext
from tests.harness.ports import wait_until
from tests.objects import new_credstash_table, synced_secret

NAMESPACE = "e2e-deletion"


@pytest.fixture(scope="module")
def store(operator_release: LocalCluster, aws_env: dict[str, str], kms_key: str) -> str:
    name = new_credstash_table(aws_env["AWS_DEFAULT_REGION"])
    stashsync("put", "-t", name, "app.token", plaintext("e2e-deletion-value"), env=aws_env)
    return namespace_with_store(operator_release, NAMESPACE, name)


def exists(cluster: LocalCluster, kind: str, name: str) -> bool:
    return bool(cluster.kubectl("get", kind, "-n", NAMESPACE, name, "--ignore-not-found", "-o", "name").strip())


@pytest.mark.parametrize(("policy", "cascade"), [("Delete", "background"), ("Delete", "foreground"),
                                                 ("Retain", "background")])
def test_deleting_a_synced_secret_with_the_garbage_collector_running(
        operator_release: LocalCluster, store: str, policy: str, cascade: str) -> None:
    cluster = operator_release
    name = f"{policy}-{cascade}".lower()
    ssec = synced_secret(name, store, [{"key": "token", "name": "app.token"}],
                         target={"name": name, "deletionPolicy": policy})
    ssec["spec"]["storeRef"] = cluster_store_ref(store)
    cluster.apply(ssec, namespace=NAMESPACE)
    cluster.wait(f"syncedsecret/{name}", "condition=Ready", NAMESPACE)
    owners = json.loads(cluster.kubectl("get", "secret", "-n", NAMESPACE, name, "-o", "json"))["metadata"]
    assert owners["ownerReferences"][0]["kind"] == "SyncedSecret"  # what the collector acts on

    cluster.kubectl("delete", "syncedsecret", "-n", NAMESPACE, name, f"--cascade={cascade}", "--timeout=60s")
    wait_until(lambda: not exists(cluster, "syncedsecret", name), 60, "the SyncedSecret gone")
    if policy == "Delete":
        wait_until(lambda: not exists(cluster, "secret", name), 60, "the Secret gone")
    else:
        time.sleep(5)  # the collector acts within moments of the owner going; the Secret must outlast that
        kept = json.loads(cluster.kubectl("get", "secret", "-n", NAMESPACE, name, "-o", "json"))["metadata"]
        assert not kept.get("ownerReferences")

    warnings = json.loads(cluster.kubectl("get", "events", "-n", NAMESPACE, "--field-selector", "type=Warning",
                                          "-o", "json"))["items"]
    assert [(e["involvedObject"]["name"], e["reason"]) for e in warnings] == []
    for pod in cluster.pods(OPERATOR_NAMESPACE, OPERATOR_PODS):
        log = cluster.kubectl("logs", "-n", OPERATOR_NAMESPACE, pod["metadata"]["name"])
        errors = [line for line in log.splitlines() if name in line and ("ERROR" in line or "Traceback" in line)]
        assert errors == []
