"""Runs last: no plaintext or token any scenario used appears in the operator pods' logs (every pod
and container of the run, killed ones included), in any Event, or in any Secret's annotations."""

from __future__ import annotations

import json

from tests.e2e.helpers import cluster_store_ref, namespace_with_store, stashsync
from tests.harness.cluster import LocalCluster
from tests.harness.leaks import leaks_in, plaintext
from tests.objects import synced_secret

NAMESPACE = "e2e-leaks"


def test_no_plaintext_in_the_operator_pods_logs_events_or_annotations(
        operator_release: LocalCluster, aws_env: dict[str, str], table: str) -> None:
    cluster = operator_release
    # One canary synced here, so the test checks something even when run alone.
    stashsync("put", "-t", table, "leak.canary", plaintext("e2e-leak-canary-7d2e"), env=aws_env)
    store = namespace_with_store(cluster, NAMESPACE, table)
    ssec = synced_secret("canary", store, [{"key": "k", "name": "leak.canary"}], target={"name": "canary"})
    ssec["spec"]["storeRef"] = cluster_store_ref(store)
    cluster.apply(ssec, namespace=NAMESPACE)
    cluster.wait("syncedsecret/canary", "condition=Ready", NAMESPACE)
    folder = cluster.keep_operator_logs()
    haystacks = {log.name: log.read_text(errors="replace") for log in sorted(folder.glob("*.log"))}
    assert haystacks, "no operator log was kept"
    haystacks["events"] = cluster.kubectl("get", "events", "-A", "-o", "json")
    secrets = json.loads(cluster.kubectl("get", "secrets", "-A", "-o", "json"))["items"]
    haystacks["secret annotations"] = json.dumps([s["metadata"].get("annotations") for s in secrets])
    assert leaks_in(haystacks) == []
