"""A tenant's objects write only what they own, of kinds they may own, and say nothing of what a
tenant wrote: template text kept in a Secret stays out of every message; no target becomes a Secret
Kubernetes or Helm acts on; an immutable Secret of someone else's is never replaced; a copy a
ClusterSyncedSecret keeps is kept as written; a rotation restarts only the workloads its Secret
concerns. Real apiserver, moto, the operator under kopf."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from stashsync.api import API_VERSION, GROUP, VERSION
from stashsync.api.defaults import apply_defaults
from stashsync.cli.main import main as cli
from stashsync.controllers.templates import TEMPLATE_LABEL
from stashsync.kube.rollout import RESTART_ANNOTATION, RESTART_OPT_IN
from tests.harness.binaries import ROOT
from tests.harness.kube import Kube, load_yaml_documents, ready_condition, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready, wait_warning
from tests.integration.test_wrappedsecret import item as wrap_item
from tests.integration.test_wrappedsecret import make_token
from tests.objects import (
    cluster_credstash_store,
    cluster_synced_secret,
    credstash_store,
    synced_secret,
    wrap_store,
    wrapped_secret,
)

pytestmark = pytest.mark.integration


def _put(table: str, name: str, value: str, add: bool = False) -> None:
    assert cli(["put", *(["-a"] if add else []), "-t", table, name, plaintext(value)]) == 0


# --- 6. Template text stays out of every message ---------------------------------------------------------


def _template_error(kube: Kube, namespace: str, what: str) -> dict[str, Any] | None:
    condition = ready_condition(kube.get(API_VERSION, "SyncedSecret", "app", namespace)) or {}
    if condition.get("reason") == "TemplateError" and what in condition.get("message", ""):
        return condition
    return None


def test_a_template_kept_in_a_secret_never_appears_in_a_status_an_event_or_the_log(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    _put(table, "tpl.user", "template-text-user")
    kube.apply(credstash_store("main", table), namespace)
    named = plaintext(f"TPLNAME{uuid.uuid4().hex[:10]}")  # as a variable: "undefined name(s) ..." quoted it
    tagged = plaintext(f"TPLTAG{uuid.uuid4().hex[:10]}")  # as a tag: "Encountered unknown tag ..." quoted it
    for text, what in ((f"user={{{{ {named} }}}}", "uses a name"), (f"{{% {tagged} %}}", "syntax error")):
        # The template Secret is labelled: an edit of it re-renders at once.
        kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tpl", "labels": {TEMPLATE_LABEL: "y"}},
                    "stringData": {"t": text}}, namespace)
        if kube.get(API_VERSION, "SyncedSecret", "app", namespace) is None:
            kube.apply(synced_secret("app", "main", [{"key": "user", "name": "tpl.user"}], target={
                "template": {"templateFrom": [{"secret": {"name": "tpl", "key": "t"}}]}}), namespace)
        condition = wait_for(lambda w=what: _template_error(kube, namespace, w), 30,  # type: ignore[misc]
                             f"the template error ({what})")
        assert "line 1" in condition["message"]
        wait_warning(kube, namespace, "app", "TemplateError")
    for secret_text in (named, tagged):
        status = kube.read(API_VERSION, "SyncedSecret", "app", namespace)["status"]
        assert secret_text not in str(status)
        assert all(secret_text not in (e.message or "") for e in kube.events_for(namespace, "app"))
        assert secret_text not in operator.log.read_text(errors="replace")
    assert kube.secret_data(namespace, "app") is None


# --- 7. Never a Secret Kubernetes or Helm acts on -----------------------------------------------------------


@pytest.mark.parametrize("target", [
    {"type": "kubernetes.io/service-account-token",
     "annotations": {"kubernetes.io/service-account.name": "default"}},
    {"type": "helm.sh/release.v1", "labels": {"owner": "helm", "name": "app", "status": "deployed", "version": "9"}},
    {"labels": {"owner": "helm", "name": "app", "status": "deployed", "version": "9"}},  # Helm reads by label
    {"type": "bootstrap.kubernetes.io/token"},
    {"annotations": {"kubernetes.io/service-account.name": "default"}},
    {"annotations": {"meta.helm.sh/release-name": "platform"}},
    {"labels": {"app.kubernetes.io/managed-by": "Helm"}},
    {"annotations": {"stashsync.dev/owner-uid": "someone-elses"}},
], ids=["sa-token", "helm-release", "helm-labels", "bootstrap", "sa-annotation", "helm-owner", "managed-by", "ours"])
def test_no_target_is_a_secret_kubernetes_helm_or_stashsync_acts_on(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, target: dict[str, Any]) -> None:
    _put(table, "forged.value", "forged-secret-value")
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("forged", "main", [{"key": "release", "name": "forged.value"}],
                             target={**target, "creationPolicy": "Orphan"}), namespace)
    condition = wait_ready(kube, namespace, "forged", status="False", reason="SecretTypeNotAllowed")
    assert "forged-secret-value" not in condition["message"]
    wait_warning(kube, namespace, "forged", "SecretTypeNotAllowed")
    time.sleep(1)
    assert kube.secret_data(namespace, "forged") is None


def test_a_wrapped_secret_is_never_unwrapped_into_a_service_account_token(
        kube: Kube, operator: OperatorProcess, namespace: str, wrap_table: str) -> None:
    token = make_token(wrap_table, plaintext("wrapped-into-a-token-value"))
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apply(wrapped_secret("w", "wrap", token, target={
        "type": "kubernetes.io/service-account-token",
        "annotations": {"kubernetes.io/service-account.name": "default"}}), namespace)
    wait_ready(kube, namespace, "w", status="False", reason="SecretTypeNotAllowed", kind="WrappedSecret")
    stored = wrap_item(wrap_table, token)
    assert stored is not None and "stashsync_claimed_by" not in stored  # refused before the claim
    assert kube.secret_data(namespace, "w") is None


# --- 8. Merge never replaces an immutable Secret of someone else's ------------------------------------------


def test_merge_never_replaces_an_immutable_secret_it_does_not_own(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    created = kube.core.create_namespaced_secret(namespace, {"metadata": {"name": "theirs"}, "immutable": True,
                                                             "stringData": {"own": "keep"}})
    _put(table, "merge.key", "merge-into-immutable-value")
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("merger", "main", [{"key": "ours", "name": "merge.key"}],
                             target={"name": "theirs", "creationPolicy": "Merge"}), namespace)
    condition = wait_ready(kube, namespace, "merger", status="False", reason="SecretConflict")
    assert "immutable" in condition["message"]
    time.sleep(1)
    after = kube.core.read_namespaced_secret("theirs", namespace)
    assert after.metadata.uid == created.metadata.uid and kube.secret_data(namespace, "theirs") == {"own": "keep"}


# --- 9. A ClusterSyncedSecret's copies are kept as it wrote them ---------------------------------------------


@pytest.fixture
def shared_store(kube: Kube, table: str) -> Iterator[str]:
    name = f"shared-{uuid.uuid4().hex[:8]}"
    kube.apply(cluster_credstash_store(name, table))
    yield name
    kube.resource(API_VERSION, "ClusterCredentialStore").delete(name=name)


def test_a_tenants_edits_to_a_cluster_synced_secrets_copy_are_undone(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, shared_store: str) -> None:
    _put(table, "fanned.key", "fanned-out-value")
    _put(table, "unshared.key", "never-fanned-out-value")
    name = f"fan-{uuid.uuid4().hex[:8]}"
    kube.apply(cluster_synced_secret(name, shared_store, [{"key": "k", "name": "fanned.key"}], namespaces=[namespace],
                                     child_name="app", refreshInterval="1h"))
    try:
        wait_ready(kube, namespace, "app")
        wait_for(lambda: kube.secret_data(namespace, "app") == {"k": "fanned-out-value"}, 30, "the copy synced")
        # The tenant edits its copy: everything the store holds, through a template of its own.
        kube.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "syncedsecrets", "app", {"spec": {
            "dataFrom": [{"find": "*"}], "target": {"template": {"data": {"all": "{{ data|tojson }}"}}}}})

        def restored() -> bool:
            spec = kube.read(API_VERSION, "SyncedSecret", "app", namespace)["spec"]
            return "dataFrom" not in spec and "template" not in spec.get("target", {})

        wait_for(restored, 30, "the copy restored to the ClusterSyncedSecret's spec")
        wait_for(lambda: kube.secret_data(namespace, "app") == {"k": "fanned-out-value"}, 30, "its Secret restored")
    finally:
        kube.resource(API_VERSION, "ClusterSyncedSecret").delete(name=name)


def test_the_defaults_the_operator_expects_are_the_ones_the_apiserver_fills_in(
        kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    """A copy is compared with its spec plus the schema's defaults (api/defaults.py): they must be
    exactly the apiserver's, or every round would rewrite every copy."""
    crd = next(d for d in load_yaml_documents(ROOT / "crds" / "syncedsecrets.stashsync.dev.yaml"))
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec = {"storeRef": {"name": "s"}, "data": [{"key": "k", "name": "n", "generate": {}}],
            "dataFrom": [{"find": "x*"}], "target": {"template": {"data": {"a": "b"}}},
            "rolloutRestartTargets": [{"name": "web"}], "encryption": {"kms": {"keyId": "alias/x"}}}
    stored = kube.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "syncedsecrets", {
        "apiVersion": API_VERSION, "kind": "SyncedSecret", "metadata": {"name": "defaults"}, "spec": spec},
        dry_run="All")
    assert stored["spec"] == apply_defaults(spec, schema)


# --- 11. Restarts only of workloads the Secret concerns ----------------------------------------------------


def _deployment(name: str, labels: dict[str, str], uses: str | None, opt_in: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "registry.invalid/app"}
    if uses:
        container["env"] = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": uses, "key": "k"}}}]
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if opt_in:
        meta["annotations"] = {RESTART_OPT_IN: opt_in}
    pod = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}
    return {"metadata": meta, "spec": {"selector": {"matchLabels": {"app": name}}, "template": pod}}


def _restarted(kube: Kube, namespace: str, name: str) -> bool:
    template = kube.apps.read_namespaced_deployment(name, namespace).spec.template
    return RESTART_ANNOTATION in (template.metadata.annotations or {})


def test_a_rotation_restarts_only_workloads_that_use_its_secret_or_opted_in(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    for body in (_deployment("uses", {}, "app"), _deployment("other-team", {}, None),
                 _deployment("opted-in", {}, None, opt_in="cache, app"),
                 _deployment("web-uses", {"tier": "web"}, "app"), _deployment("web-other", {"tier": "web"}, "other")):
        kube.apps.create_namespaced_deployment(namespace, body)
    _put(table, "restart.key", "restart-scope-v1")
    kube.apply(credstash_store("main", table), namespace)
    targets = [{"name": "uses"}, {"name": "other-team"}, {"name": "opted-in"},
               {"selector": {"matchLabels": {"tier": "web"}}}]
    kube.apply(synced_secret("app", "main", [{"key": "k", "name": "restart.key"}], refreshInterval="1s",
                             rolloutRestartTargets=targets), namespace)
    wait_ready(kube, namespace, "app")
    _put(table, "restart.key", "restart-scope-v2", add=True)
    wait_for(lambda: all(_restarted(kube, namespace, n) for n in ("uses", "opted-in", "web-uses")), 30,
             "the workloads that use the Secret restarted")
    wait_warning(kube, namespace, "app", "RestartNotAllowed")
    warning = next(e.message for e in kube.events_for(namespace, "app") if e.reason == "RestartNotAllowed")
    assert "Deployment/other-team" in warning and "Deployment/web-other" in warning
    time.sleep(2)
    assert not _restarted(kube, namespace, "other-team") and not _restarted(kube, namespace, "web-other")


def test_restart_selectors_take_labels_only(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    """matchLabels are joined into a label selector: ',' or '!=' in one would add requirements."""
    with pytest.raises(ApiException) as caught:  # a value: refused by the schema
        kube.apply(synced_secret("sel", "main", [{"key": "k", "name": "n"}],
                                 rolloutRestartTargets=[{"selector": {"matchLabels": {"tier": "web,app!=x"}}}]),
                   namespace)
    assert caught.value.status == 422
    kube.apply(synced_secret("sel", "main", [{"key": "k", "name": "n"}],  # a key: refused by the operator
                             rolloutRestartTargets=[{"selector": {"matchLabels": {"tier in (a,b)": "x"}}}]), namespace)
    condition = wait_ready(kube, namespace, "sel", status="False", reason="InvalidSpec")
    assert "matchLabels" in condition["message"] and "tier in" not in condition["message"]
