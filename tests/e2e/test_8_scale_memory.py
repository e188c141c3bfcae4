"""Scenario 8: the documented scale (10,000 SyncedSecrets over 100 credentials) in the operator pod at
the chart's default memory limit: every object converges and the pod is never OOM-killed. The pod's
peak memory (its cgroup's, as the kubelet and the OOM killer count it) is recorded."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from stashsync.api import API_VERSION, GROUP, VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.sources.credstash import CredstashSource
from tests.e2e.conftest import record
from tests.e2e.helpers import cluster_store_ref, namespace_with_store
from tests.harness.binaries import ROOT
from tests.harness.cluster import OPERATOR_NAMESPACE, OPERATOR_PODS, RELEASE, LocalCluster
from tests.harness.kube import Kube, ready_condition
from tests.harness.metrics import metric_sum, scrape
from tests.harness.ports import wait_until

NAMESPACE = "e2e-scale"
OBJECTS = int(os.environ.get("E2E_SCALE_OBJECTS", "10000"))  # the README's documented scale
CREDENTIALS = 100


def scraper_token(cluster: LocalCluster) -> str:
    """A token of an account bound to the chart's metrics-reader role, as Prometheus' would be: the
    chart serves metrics only to such callers (metrics.auth kubernetes, its default)."""
    cluster.kubectl("create", "serviceaccount", "scraper", "-n", NAMESPACE, check=False)
    cluster.kubectl("create", "clusterrolebinding", "e2e-scraper", f"--clusterrole={RELEASE}-metrics-reader",
                    f"--serviceaccount={NAMESPACE}:scraper", check=False)
    return cluster.kubectl("create", "token", "scraper", "-n", NAMESPACE, "--duration=3h").strip()


def synced(cluster: LocalCluster, pod: dict[str, object], token: str) -> float:
    """Successful syncs so far, from the operator's metrics (cheap, unlike listing 10,000 objects)."""
    url = f"http://{pod['status']['podIP']}:{cluster.values['metricsPort']}/metrics"  # type: ignore[index]
    return metric_sum(scrape(url, token), "stashsync_syncs_total", kind="SyncedSecret", reason="Synced")


def ready_reasons(cluster: LocalCluster) -> Counter[str]:
    """How many SyncedSecrets are Ready, and why the others are not ("-": no condition yet)."""
    items = json.loads(cluster.kubectl("get", "syncedsecrets", "-n", NAMESPACE, "-o", "json"))["items"]
    reasons: Counter[str] = Counter()
    for item in items:
        ready = ready_condition(item) or {}
        reasons["Ready" if ready.get("status") == "True" else ready.get("reason") or "-"] += 1
    return reasons


def memory_cgroup(cluster: LocalCluster, pod: dict[str, object]) -> Path:
    container_id = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]  # type: ignore[index]
    info = json.loads(cluster.node(pod["spec"]["nodeName"]).ctr("containers", "info", container_id,  # type: ignore[index]
                                                                check=True).stdout)
    return Path("/sys/fs/cgroup/memory" + info["Spec"]["linux"]["cgroupsPath"])


@pytest.mark.timeout(2400)
def test_the_documented_scale_converges_within_the_charts_default_memory_limit(
        operator_release: LocalCluster, aws_env: dict[str, str], kms_key: str) -> None:
    cluster = operator_release
    default_limit = yaml.safe_load((ROOT / "charts" / "stashsync" / "values.yaml").read_text())[
        "resources"]["limits"]["memory"]
    table = "e2e-scale-creds"
    source = CredstashSource(AwsClients(AwsAuth(region=aws_env["AWS_DEFAULT_REGION"])), table=table)
    source.create_table()
    for c in range(CREDENTIALS):
        source.put(f"scale.{c}", f"scale-value-{c}".encode(), 1, {})
    store = namespace_with_store(cluster, NAMESPACE, table)
    cluster.kubectl("patch", "clustercredentialstore", store, "--type=merge", "-p",
                    json.dumps({"spec": {"rateLimit": {"requestsPerSecond": 1000, "burst": 1000}}}))
    [pod] = cluster.pods(OPERATOR_NAMESPACE, OPERATOR_PODS)
    assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == default_limit
    cgroup = memory_cgroup(cluster, pod)
    token = scraper_token(cluster)
    before = synced(cluster, pod, token)

    custom = Kube(cluster.kubeconfig).custom
    started = time.monotonic()

    def create(i: int) -> None:
        body = {"apiVersion": API_VERSION, "kind": "SyncedSecret", "metadata": {"name": f"s{i}"},
                "spec": {"storeRef": cluster_store_ref(store), "refreshInterval": "1h",
                         "data": [{"key": "v", "name": f"scale.{i % CREDENTIALS}"}]}}
        custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "syncedsecrets", body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(OBJECTS)))
    # The metric counts syncs, and an object may sync twice (a retried write): it is the cheap signal
    # to start checking; the objects' own Ready conditions are the answer.
    wait_until(lambda: synced(cluster, pod, token) - before >= OBJECTS, 1800, f"{OBJECTS} syncs", interval=2)
    try:
        wait_until(lambda: ready_reasons(cluster)["Ready"] >= OBJECTS, 900, f"{OBJECTS} Ready", interval=10)
    except TimeoutError:
        raise AssertionError(f"not all Ready: {dict(ready_reasons(cluster))}") from None
    converged = time.monotonic() - started
    secrets = json.loads(cluster.kubectl("get", "secrets", "-n", NAMESPACE, "-o", "json"))["items"]
    assert sum(1 for s in secrets if s["type"] == "Opaque") == OBJECTS

    [after] = cluster.pods(OPERATOR_NAMESPACE, OPERATOR_PODS)
    assert after["metadata"]["name"] == pod["metadata"]["name"]
    status = after["status"]["containerStatuses"][0]
    assert status["restartCount"] == 0 and "lastState" not in {k for k, v in status.items() if v}
    peak = int((cgroup / "memory.max_usage_in_bytes").read_text()) / 2**20
    stat = dict(line.split() for line in (cgroup / "memory.stat").read_text().splitlines())
    record(f"{OBJECTS} SyncedSecrets in the operator pod: converged",
           f"{converged:.0f} s ({OBJECTS / converged:.0f}/s)")
    record(f"{OBJECTS} SyncedSecrets: pod memory peak (cgroup, page cache included) / rss now",
           f"{peak:.0f} MiB / {int(stat['total_rss']) / 2**20:.0f} MiB, limit {default_limit}")
