"""The chart installs into the real apiserver, and the operator running with only the chart's
ServiceAccount identity (a TokenRequest token, RBAC on) does its main jobs, and nothing more."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from stashsync.api import API_VERSION
from stashsync.cli.main import main as cli
from tests.harness.binaries import ROOT, find_binaries
from tests.harness.controlplane import ControlPlane
from tests.harness.kube import Kube
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready
from tests.integration.test_wrappedsecret import make_token
from tests.objects import credstash_store, synced_secret, tenant_namespace, wrap_store, wrapped_secret

pytestmark = pytest.mark.integration
RELEASE_NS = "stashsync-helm"


def install(kube: Kube, control_plane: ControlPlane, workdir: Path, release: str, namespace: str,
            *settings: str) -> Path:
    """helm install, then a kubeconfig holding a token of the release's ServiceAccount."""
    assert control_plane.kubeconfig is not None
    kube.create_namespace(namespace)
    sets = [arg for setting in settings for arg in ("--set", setting)]
    subprocess.run([str(find_binaries().helm), "upgrade", "--install", release, str(ROOT / "charts/stashsync"),
                    "--namespace", namespace, "--kubeconfig", str(control_plane.kubeconfig), "--wait=false", *sets],
                   check=True, capture_output=True, text=True)
    assert kube.apps.read_namespaced_deployment(release, namespace).spec.template.spec.service_account_name \
        == release
    token = kube.core.create_namespaced_service_account_token(
        release, namespace, {"spec": {"expirationSeconds": 3600}}).status.token
    path = workdir / f"{release}-sa.kubeconfig"
    path.write_text(yaml.safe_dump(control_plane.kubeconfig_dict(user=f"system:serviceaccount:{release}", token=token)))
    return path


@pytest.fixture(scope="module")
def chart_identity(kube: Kube, control_plane: ControlPlane, workdir: Path) -> Path:
    return install(kube, control_plane, workdir, "stashsync", RELEASE_NS)


@pytest.fixture
def operator_as_chart(operator: OperatorProcess, chart_identity: Path) -> Iterator[OperatorProcess]:
    """The shared operator steps aside; one with the chart's identity runs instead."""
    operator.stop()
    scoped = OperatorProcess(operator.folder.parent / "operator-chart-sa", chart_identity, operator.aws_env,
                             RELEASE_NS)
    try:
        yield scoped.start()
    finally:
        scoped.stop()
        operator.start()


def test_operator_with_the_charts_identity_runs_the_main_flows(
        kube: Kube, operator_as_chart: OperatorProcess, namespace: str, table: str, wrap_table: str) -> None:
    kube.apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "a", "image": "x.invalid/a", "envFrom": [{"secretRef": {"name": "app"}}]}]}}}})
    assert cli(["put", "-t", table, "rbac.key", plaintext("rbac-v1")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    ssec = synced_secret("app", "main", [{"key": "k", "name": "rbac.key"}], rolloutRestartTargets=[{"name": "web"}])
    kube.apply(ssec, namespace)
    wait_ready(kube, namespace, "app")
    assert kube.secret_data(namespace, "app") == {"k": "rbac-v1"}
    assert cli(["put", "-a", "-t", table, "rbac.key", plaintext("rbac-v2")]) == 0
    ssec["spec"]["target"] = {"labels": {"wake": "1"}}
    kube.apply(ssec, namespace)
    deadline = time.monotonic() + 30
    while kube.apps.read_namespaced_deployment("web", namespace).metadata.generation != 2:
        assert time.monotonic() < deadline, "restart patch not applied under the chart's RBAC"
        time.sleep(0.2)

    token = make_token(wrap_table, plaintext("rbac-wrapped-value"))
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apply(wrapped_secret("w", "wrap", token), namespace)
    wait_ready(kube, namespace, "w", kind="WrappedSecret", reason="Unwrapped")
    assert kube.secret_data(namespace, "w") == {"value": "rbac-wrapped-value"}

    kube.resource(API_VERSION, "SyncedSecret").delete(name="app", namespace=namespace)
    deadline = time.monotonic() + 30
    while kube.secret_data(namespace, "app") is not None:
        assert time.monotonic() < deadline, "Secret not deleted under the chart's RBAC"
        time.sleep(0.2)
    assert "Forbidden" not in operator_as_chart.log.read_text()


def test_the_charts_identity_is_refused_what_the_chart_does_not_grant(chart_identity: Path, namespace: str) -> None:
    api = config.new_client_from_config(str(chart_identity))
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    refused: list[Callable[[], object]] = [
        lambda: core.list_namespaced_pod(namespace),
        # ConfigMaps are read (templateFrom templates), never written.
        lambda: core.create_namespaced_config_map(namespace, {"metadata": {"name": "not-allowed"}}),
        lambda: core.create_namespace({"metadata": {"name": "not-allowed"}}),
        lambda: rbac.list_cluster_role(),
        lambda: core.create_namespaced_service_account_token("stashsync", RELEASE_NS, {"spec": {}}),
    ]
    for call in refused:
        with pytest.raises(ApiException) as caught:
            call()
        assert caught.value.status == 403


def test_a_namespaced_install_serves_its_namespaces_and_reads_no_secret_elsewhere(
        kube: Kube, operator: OperatorProcess, control_plane: ControlPlane, workdir: Path, table: str,
        wrap_table: str) -> None:
    served = tenant_namespace(kube, f"t-served-{uuid.uuid4().hex[:6]}")
    elsewhere = tenant_namespace(kube, f"t-elsewhere-{uuid.uuid4().hex[:6]}")
    identity = install(kube, control_plane, workdir, "stashsync-ns", "stashsync-helm-ns",
                       "rbac.scope=namespaced", f"watchNamespaces={{{served}}}")
    assert cli(["put", "-t", table, "ns.key", plaintext("namespaced-install-value")]) == 0
    kube.core.create_namespaced_secret(elsewhere, {"metadata": {"name": "private"}, "stringData": {"k": "v"}})
    operator.stop()
    scoped = OperatorProcess(operator.folder.parent / "operator-namespaced-install", identity, operator.aws_env,
                             "stashsync-helm-ns", extra_env={"STASHSYNC_WATCH_NAMESPACES": served})
    try:
        scoped.start()
        for ns in (served, elsewhere):
            kube.apply(credstash_store("main", table), ns)
            kube.apply(synced_secret("app", "main", [{"key": "k", "name": "ns.key"}]), ns)
        wait_ready(kube, served, "app")
        assert kube.secret_data(served, "app") == {"k": "namespaced-install-value"}
        token = make_token(wrap_table, plaintext("namespaced-install-token-value"))
        kube.apply(wrap_store("wrap", wrap_table), served)
        kube.apply(wrapped_secret("w", "wrap", token), served)
        wait_ready(kube, served, "w", kind="WrappedSecret", reason="Unwrapped")
        time.sleep(3)
        assert not (kube.get(API_VERSION, "SyncedSecret", "app", elsewhere) or {}).get("status")
        assert kube.secret_data(elsewhere, "app") is None
        for ns in (served, elsewhere):
            kube.resource(API_VERSION, "SyncedSecret").delete(name="app", namespace=ns)
        deadline = time.monotonic() + 30
        while kube.secret_data(served, "app") is not None:
            assert time.monotonic() < deadline, "Secret not deleted under the namespaced install's RBAC"
            time.sleep(0.2)
    finally:
        scoped.stop()
        operator.start()
    assert "Forbidden" not in scoped.log.read_text()

    core = client.CoreV1Api(config.new_client_from_config(str(identity)))
    refused: list[Callable[[], object]] = [
        lambda: core.read_namespaced_secret("private", elsewhere),
        lambda: core.list_namespaced_secret(elsewhere),
        lambda: core.list_secret_for_all_namespaces(),
        lambda: core.create_namespaced_secret(elsewhere, {"metadata": {"name": "x"}}),
        lambda: core.list_namespace(),  # it reads the namespaces it serves by name, and lists none
    ]
    for call in refused:
        with pytest.raises(ApiException) as caught:
            call()
        assert caught.value.status == 403
    assert core.list_namespaced_secret(served).items is not None  # what it was given, it has
