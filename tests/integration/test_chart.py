"""The Helm chart lints, renders, and deploy/ is the chart's current rendering."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from tests.harness.binaries import ROOT, find_binaries
from tests.harness.kube import Kube

pytestmark = pytest.mark.integration
CHART = ROOT / "charts/stashsync"


def _helm(*args: str) -> str:
    return subprocess.run([str(find_binaries().helm), *args], check=True, text=True, capture_output=True).stdout


def test_chart_lints_cleanly() -> None:
    assert "0 chart(s) failed" in _helm("lint", str(CHART), "--strict")


def test_chart_renders_the_crds_from_crds_and_a_restricted_deployment() -> None:
    docs = [d for d in yaml.safe_load_all(_helm("template", "s", str(CHART), "--include-crds", "-n", "x")) if d]
    crds = {d["metadata"]["name"]: d for d in docs if d["kind"] == "CustomResourceDefinition"}
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        source = yaml.safe_load(path.read_text())
        assert crds[source["metadata"]["name"]] == source
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_deploy_manifests_are_the_current_chart_rendering() -> None:
    from hack.render_manifests import render

    assert Path(ROOT / "deploy/stashsync.yaml").read_text() == render(), "run `make manifests`"


def test_cluster_store_crd_matches_the_namespaced_one_but_for_names_scope_and_conditions() -> None:
    ns = yaml.safe_load((ROOT / "crds/credentialstores.stashsync.dev.yaml").read_text())["spec"]
    cl = yaml.safe_load((ROOT / "crds/clustercredentialstores.stashsync.dev.yaml").read_text())["spec"]
    ns_props = ns["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    cl_props = cl["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    assert "conditions" in cl_props["spec"]["properties"]  # who may use a cluster store
    cl_props["spec"]["properties"].pop("conditions")
    assert ns_props["spec"] == cl_props["spec"] and ns_props["status"] == cl_props["status"]
    assert (ns["scope"], cl["scope"]) == ("Namespaced", "Cluster")


def test_values_schema_refuses_bad_values() -> None:
    for bad in ("logFormat=xml", "metricsPort=0", "image.pullPolicy=Sometimes", "unknownSetting=1"):
        done = subprocess.run([str(find_binaries().helm), "template", "s", str(CHART), "--set", bad],
                              capture_output=True, text=True)
        assert done.returncode != 0 and "schema" in done.stderr, bad


@pytest.mark.parametrize("settings", [
    ("watchNamespaces={a,b}", "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::1:role/x"),
    ("rbac.scope=namespaced", "watchNamespaces={a,b}", "replicas=2", "webIdentity.enabled=true",
     "shardSelector=stashsync.dev/shard=a", "metrics.serviceMonitor.enabled=true", "networkPolicy.enabled=true"),
    ("replicas=3", "metrics.service.enabled=true", "webhook.enabled=true", "webhook.certSecret=stashsync-tls",
     "webhook.caBundle=Y2E=", "networkPolicy.enabled=true", "hostNetwork=true"),
], ids=["cluster", "namespaced-everything-on", "replicas-and-webhook"])
def test_rendered_manifests_pass_the_real_apiservers_validation(kube: Kube, settings: tuple[str, ...]) -> None:
    """Server-side dry-run of every rendered object: the apiserver's own schema validation."""
    namespace = kube.create_namespace("stashsync-dryrun")
    for watched in ("a", "b"):
        kube.create_namespace(watched)
    rendered = _helm("template", "dryrun", str(CHART), "-n", namespace,
                     *[arg for setting in settings for arg in ("--set", setting)])
    docs = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] != "CustomResourceDefinition"]
    assert {d["kind"] for d in docs} >= {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"}
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":  # the Prometheus Operator's CRD is not installed here
            service = next(d for d in docs if d["kind"] == "Service")
            assert doc["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
            assert doc["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
            continue
        resource = kube.resource(doc["apiVersion"], doc["kind"])
        try:
            resource.create(body=doc, namespace=doc["metadata"].get("namespace", namespace)
                            if resource.namespaced else None, dry_run="All")
        except ApiException as exc:
            raise AssertionError(f"{doc['kind']}/{doc['metadata']['name']} rejected: {exc.body}") from None


def test_the_kind_recipe_is_valid_shell_and_its_values_pass_the_schema_and_the_apiserver(kube: Kube) -> None:
    """tests/e2e/kind.sh needs Docker and internet (kind pulls its node image): lint what it would run."""
    script = ROOT / "tests/e2e/kind.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert "helm install stashsync charts/stashsync" in script.read_text()
    namespace = kube.create_namespace("stashsync-kind-values")
    rendered = _helm("template", "stashsync", str(CHART), "-n", namespace,
                     "-f", str(ROOT / "tests/e2e/kind-values.yaml"))
    for doc in (d for d in yaml.safe_load_all(rendered) if d and d["kind"] != "CustomResourceDefinition"):
        resource = kube.resource(doc["apiVersion"], doc["kind"])
        resource.create(body=doc, namespace=namespace if resource.namespaced else None, dry_run="All")
