"""What the operator exposes, and what it may touch: metrics (which name every SyncedSecret) only for
callers the API server says may read /metrics; the chart's NetworkPolicy admits only who it names;
a namespaced install lists no namespace and reads no Secret beyond those it serves."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.harness.binaries import ROOT, find_binaries
from tests.harness.kube import Kube
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import replaced_operator, wait_ready
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration


@pytest.fixture
def authenticated_metrics(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    with replaced_operator(operator, "operator-metrics-auth", STASHSYNC_METRICS_AUTH="kubernetes") as guarded:
        yield guarded


def _get(url: str, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _token(kube: Kube, namespace: str, account: str) -> str:
    kube.core.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
    return str(kube.core.create_namespaced_service_account_token(account, namespace, {"spec": {}}).status.token)


def test_metrics_are_served_only_to_callers_allowed_to_get_them(
        kube: Kube, authenticated_metrics: OperatorProcess, namespace: str, table: str) -> None:
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("named-in-metrics", "main", [{"key": "k", "name": "absent"}]), namespace)
    wait_ready(kube, namespace, "named-in-metrics", status="False")
    url = authenticated_metrics.metrics_url
    assert _get(url, None)[0] == 401
    assert _get(url, "not-a-token")[0] == 403
    assert _get(url, _token(kube, namespace, "bystander"))[0] == 403  # a valid account, without the right

    rbac = client.RbacAuthorizationV1Api(kube.api_client)
    role = f"metrics-reader-{uuid.uuid4().hex[:6]}"
    rbac.create_cluster_role({"metadata": {"name": role}, "rules": [{"nonResourceURLs": ["/metrics"],
                                                                      "verbs": ["get"]}]})
    scraper = _token(kube, namespace, "scraper")
    rbac.create_cluster_role_binding({"metadata": {"name": role}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}, "subjects": [
        {"kind": "ServiceAccount", "name": "scraper", "namespace": namespace}]})
    try:
        status, text = _get(url, scraper)
        assert status == 200 and "stashsync_syncs_total" in text and "named-in-metrics" in text
    finally:
        rbac.delete_cluster_role_binding(role)
        rbac.delete_cluster_role(role)


def _render(*settings: str) -> list[dict[str, Any]]:
    sets = [arg for setting in settings for arg in ("--set", setting)]
    out = subprocess.run([str(find_binaries().helm), "template", "t", str(ROOT / "charts/stashsync"), *sets],
                         check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _network_policy(*settings: str) -> dict[str, Any]:
    return next(d for d in _render("networkPolicy.enabled=true", *settings) if d["kind"] == "NetworkPolicy")


def test_the_network_policy_admits_only_whom_it_names() -> None:
    metrics = _network_policy()["spec"]["ingress"][0]
    assert metrics["from"] == [{"podSelector": {}}]  # not "anyone": the release namespace's pods
    named = _network_policy("networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring")
    assert named["spec"]["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {"team": "monitoring"}}}]
    webhook = _network_policy("webhook.enabled=true", "webhook.certSecret=tls",
                              "networkPolicy.webhookFrom[0].ipBlock.cidr=192.0.2.0/28")["spec"]["ingress"][1]
    assert webhook["from"] == [{"ipBlock": {"cidr": "192.0.2.0/28"}}]


def test_what_the_chart_grants_in_each_mode() -> None:
    """cluster: Secrets everywhere (one ClusterRole); namespaced: Secrets and workloads only in the
    watched namespaces, and at cluster level only reads that name no tenant's data."""
    def rules(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
        return [r for d in docs if d["kind"] == kind for r in d.get("rules") or []]

    cluster = _render()
    assert any("secrets" in r.get("resources", []) for r in rules(cluster, "ClusterRole"))
    scoped = _render("rbac.scope=namespaced", "watchNamespaces={team-a,team-b}")
    cluster_rules = rules(scoped, "ClusterRole")
    assert not any({"secrets", "configmaps", "deployments"} & set(r.get("resources", [])) for r in cluster_rules)
    namespaces = [r for r in cluster_rules if "namespaces" in r.get("resources", [])]
    assert namespaces and all(r["verbs"] == ["get"] for r in namespaces)  # the served ones, by name: no list
    roles = {d["metadata"]["namespace"] for d in scoped if d["kind"] == "Role" and any(
        "secrets" in r.get("resources", []) for r in d["rules"])}
    assert roles == {"team-a", "team-b", "default"}  # "default": the release's own (the MAC key)
