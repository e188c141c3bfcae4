"""Who may use a store and how the operator authenticates for it: cluster store conditions, web
identity with a real service account token, and the shared per-store request budget."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from stashsync.api import API_VERSION
from stashsync.cli.main import main as cli
from tests.harness.fault_proxy import FaultProxy
from tests.harness.kube import Kube
from tests.harness.leaks import plaintext
from tests.harness.moto import MotoServer
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready, wait_warning
from tests.objects import cluster_credstash_store, credstash_store, synced_secret

pytestmark = pytest.mark.integration


def _cluster_ssec(name: str, store: str, credential: str) -> dict[str, Any]:
    ssec = synced_secret(name, store, [{"key": "k", "name": credential}])
    ssec["spec"]["storeRef"]["kind"] = "ClusterCredentialStore"
    return ssec


def test_cluster_store_conditions_allow_listed_and_labelled_namespaces_only(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    assert cli(["put", "-t", table, "guarded.key", plaintext("guarded-value")]) == 0
    labelled = kube.create_namespace(f"t-{uuid.uuid4().hex[:10]}")
    kube.core.patch_namespace(labelled, {"metadata": {"labels": {"team": "payments"}}})
    outsider = kube.create_namespace(f"t-{uuid.uuid4().hex[:10]}")
    name = f"guarded-{namespace}"
    store = cluster_credstash_store(name, table)
    store["spec"]["conditions"] = [{"namespaces": [namespace]},
                                   {"namespaceSelector": {"matchExpressions": [
                                       {"key": "team", "operator": "In", "values": ["payments"]}]}}]
    kube.apply(store)
    wait_ready(kube, None, name, kind="ClusterCredentialStore")  # type: ignore[arg-type]
    for allowed in (namespace, labelled):
        kube.apply(_cluster_ssec("app", name, "guarded.key"), allowed)
        wait_ready(kube, allowed, "app")
        assert kube.secret_data(allowed, "app") == {"k": "guarded-value"}
    kube.apply(_cluster_ssec("app", name, "guarded.key"), outsider)
    condition = wait_ready(kube, outsider, "app", status="False", reason="StoreNotAllowed")
    assert outsider in condition["message"]
    wait_warning(kube, outsider, "app", "StoreNotAllowed")
    assert kube.secret_data(outsider, "app") is None
    for ns in (labelled, outsider):
        kube.resource(API_VERSION, "SyncedSecret").delete(name="app", namespace=ns)


def test_a_namespaced_store_is_not_visible_from_another_namespace(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    kube.apply(credstash_store("private", table), namespace)
    wait_ready(kube, namespace, "private", kind="CredentialStore")
    other = kube.create_namespace(f"t-{uuid.uuid4().hex[:10]}")
    kube.apply(synced_secret("app", "private", [{"key": "k", "name": "x"}]), other)
    condition = wait_ready(kube, other, "app", status="False", reason="StoreNotReady")
    assert "not found" in condition["message"]
    kube.resource(API_VERSION, "SyncedSecret").delete(name="app", namespace=other)


def test_web_identity_with_a_service_account_token_from_token_request(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    assert cli(["put", "-t", table, "irsa.key", plaintext("web-identity-value")]) == 0
    store = credstash_store("irsa", table)
    store["spec"]["auth"] = {"roleArn": "arn:aws:iam::123456789012:role/stashsync-irsa",
                             "jwt": {"serviceAccountRef": {"name": "reader"}}}
    kube.apply(store, namespace)
    # The service account does not exist yet: the store says so.
    condition = wait_ready(kube, namespace, "irsa", status="False", reason="AccessDenied", kind="CredentialStore")
    assert f"{namespace}/reader" in condition["message"]
    kube.core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    wait_ready(kube, namespace, "irsa", kind="CredentialStore", timeout=45)
    before = operator.metric("stashsync_aws_calls_total", service="sts", operation="AssumeRoleWithWebIdentity")
    kube.apply(synced_secret("app", "irsa", [{"key": "k", "name": "irsa.key"}], refreshInterval="1s"), namespace)
    wait_ready(kube, namespace, "app")
    assert kube.secret_data(namespace, "app") == {"k": "web-identity-value"}
    time.sleep(4)  # several refreshes share the one cached session
    assert operator.metric("stashsync_aws_calls_total", service="sts",
                           operation="AssumeRoleWithWebIdentity") - before <= 1


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    p = FaultProxy(moto.url).start()
    yield p
    p.stop()


def test_a_store_rate_limit_bounds_requests_for_all_its_objects(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, proxy: FaultProxy) -> None:
    for i in range(6):
        assert cli(["put", "-t", table, f"rl.{i}", plaintext(f"rate-limited-{i}")]) == 0
    store = credstash_store("slow", table)
    store["spec"]["endpoint"] = proxy.url
    store["spec"]["rateLimit"] = {"requestsPerSecond": 2, "burst": 2}
    kube.apply(store, namespace)
    for n in range(2):  # two objects, one budget
        kube.apply(synced_secret(f"app{n}", "slow", [{"key": f"k{i}", "name": f"rl.{i}"} for i in range(6)],
                                 refreshInterval="1s"), namespace)
    for n in range(2):
        wait_ready(kube, namespace, f"app{n}", timeout=90)
    start, started = proxy.count(), time.monotonic()
    time.sleep(6)
    seen, elapsed = proxy.count() - start, time.monotonic() - started
    # Unlimited, 2 objects x 6 queries a second would be ~70 requests; the budget allows 2/s.
    assert seen <= 2 * elapsed + 2 + 1, f"{seen} requests in {elapsed:.1f}s"
    assert kube.secret_data(namespace, "app1") == {f"k{i}": f"rate-limited-{i}" for i in range(6)}
