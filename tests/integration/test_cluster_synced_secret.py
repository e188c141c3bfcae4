"""ClusterSyncedSecret against the real apiserver: a SyncedSecret in every namespace it selects,
following namespaces and labels, respecting the store's conditions, reporting each namespace that
failed, and costing the AWS calls of one object however many namespaces it reaches."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from stashsync.api import API_VERSION, GROUP, VERSION
from stashsync.cli.main import main as cli
from tests.harness.kube import Kube, ready_condition, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.objects import cluster_credstash_store, cluster_synced_secret, synced_secret, tenant_namespace

pytestmark = pytest.mark.integration
KIND = "ClusterSyncedSecret"


@pytest.fixture
def run_id(kube: Kube) -> Iterator[str]:
    """A fresh label value and object names; the ClusterSyncedSecrets made under it are deleted after."""
    run = uuid.uuid4().hex[:8]
    yield run
    for item in kube.custom.list_cluster_custom_object(GROUP, VERSION, "clustersyncedsecrets")["items"]:
        if item["metadata"]["name"].endswith(run):
            kube.custom.delete_cluster_custom_object(GROUP, VERSION, "clustersyncedsecrets", item["metadata"]["name"])


def labelled(kube: Kube, name: str, labels: dict[str, str]) -> str:
    tenant_namespace(kube, name)
    kube.core.patch_namespace(name, {"metadata": {"labels": labels}})
    return name


def children(kube: Kube, name: str) -> dict[str, dict[str, Any]]:
    items = kube.custom.list_cluster_custom_object(GROUP, VERSION, "syncedsecrets",
                                                   label_selector=f"stashsync.dev/cluster-synced-secret={name}")
    return {i["metadata"]["namespace"]: i for i in items["items"]}


def status_of(kube: Kube, name: str) -> dict[str, Any]:
    return dict(kube.read(API_VERSION, KIND, name).get("status") or {})


def test_a_synced_secret_in_every_selected_namespace_as_namespaces_come_and_change_labels(
        kube: Kube, operator: OperatorProcess, table: str, run_id: str) -> None:
    value = plaintext("fan-out-value")
    assert cli(["put", "-t", table, "shared.db", value]) == 0
    kube.apply(cluster_credstash_store(f"shared-{run_id}", table))
    team = {"team": f"a-{run_id}"}
    first = [labelled(kube, f"fan-{i}-{run_id}", team) for i in range(3)]
    other = labelled(kube, f"other-{run_id}", {"team": "b"})
    name = f"db-{run_id}"
    kube.apply(cluster_synced_secret(name, f"shared-{run_id}", [{"key": "password", "name": "shared.db"}],
                                     selector=team, child_name="db"))

    wait_for(lambda: all(kube.secret_data(ns, "db") == {"password": value} for ns in first), 60,
             "the Secret in every selected namespace")
    assert set(children(kube, name)) == set(first)
    assert kube.secret_data(other, "db") is None
    status = wait_for(lambda: (s := status_of(kube, name)).get("namespaces") == 3
                      and (ready_condition({"status": s}) or {}).get("status") == "True" and s, 30, "Ready")
    assert status["provisionedNamespaces"] == sorted(first) and status["failedCount"] == 0

    # A namespace that gains the label gets one; one that loses it loses it, and its Secret.
    kube.core.patch_namespace(other, {"metadata": {"labels": team}})
    wait_for(lambda: kube.secret_data(other, "db") == {"password": value}, 30, "the newly labelled namespace")
    kube.core.patch_namespace(first[0], {"metadata": {"labels": {"team": "c"}}})
    wait_for(lambda: first[0] not in children(kube, name) and kube.secret_data(first[0], "db") is None, 30,
             "the unlabelled namespace's SyncedSecret and Secret removed")

    # A tenant's edit of its copy is undone.
    kube.custom.patch_namespaced_custom_object(GROUP, VERSION, first[1], "syncedsecrets", "db",
                                               {"spec": {"data": [{"key": "password", "name": "other.cred"}]}})
    wait_for(lambda: children(kube, name)[first[1]]["spec"]["data"][0]["name"] == "shared.db", 30, "edit undone")

    # Deleting the ClusterSyncedSecret deletes what it made.
    kube.custom.delete_cluster_custom_object(GROUP, VERSION, "clustersyncedsecrets", name)
    wait_for(lambda: not children(kube, name) and all(kube.secret_data(ns, "db") is None for ns in first[1:]),
             30, "every SyncedSecret and Secret removed")


def test_failures_are_reported_per_namespace_and_nothing_is_made_where_the_store_refuses(
        kube: Kube, operator: OperatorProcess, table: str, run_id: str) -> None:
    assert cli(["put", "-t", table, "served.cred", plaintext("served-value")]) == 0
    served, taken, refused = (tenant_namespace(kube, f"{n}-{run_id}") for n in ("served", "taken", "refused"))
    store = cluster_credstash_store(f"limited-{run_id}", table)
    store["spec"]["conditions"] = [{"namespaces": [served, taken]}]
    kube.apply(store)
    # A tenant's own SyncedSecret already has the name: it is not ours to overwrite.
    kube.apply(synced_secret("app", "its-own-store", [{"key": "k", "name": "mine"}]), taken)
    name = f"app-{run_id}"
    kube.apply(cluster_synced_secret(name, f"limited-{run_id}", [{"key": "k", "name": "served.cred"}],
                                     namespaces=[served, taken, refused], child_name="app"))

    def failed() -> dict[str, str]:
        return {f["namespace"]: f["reason"] for f in status_of(kube, name).get("failedNamespaces") or []}

    wait_for(lambda: failed() == {taken: "SyncedSecretConflict", refused: "StoreNotAllowed"}, 60,
             "both failures reported")
    condition = ready_condition(kube.read(API_VERSION, KIND, name))
    assert condition is not None and condition["status"] == "False" and condition["reason"] == "NamespacesFailed"
    assert kube.secret_data(served, "app") == {"k": "served-value"}
    assert set(children(kube, name)) == {served}
    own = kube.read(API_VERSION, "SyncedSecret", "app", taken)
    assert own["spec"]["data"] == [{"key": "k", "name": "mine"}]
    assert kube.get(API_VERSION, "SyncedSecret", "app", refused) is None
    warnings = {e.reason for e in kube.core.list_namespaced_event(
        "default", field_selector=f"involvedObject.name={name}").items if e.type == "Warning"}
    assert "NamespacesFailed" in warnings

    # A SyncedSecret that fails at its source is reported with its own reason.
    kube.custom.patch_cluster_custom_object(GROUP, VERSION, "clustersyncedsecrets", name, {
        "spec": {"syncedSecretSpec": {"data": [{"key": "k", "name": "no.such.cred"}]}}})
    wait_for(lambda: failed().get(served) == "CredentialNotFound", 60, "the source failure reported")


def test_a_spec_that_cannot_be_used_is_reported_and_makes_nothing(
        kube: Kube, operator: OperatorProcess, table: str, run_id: str) -> None:
    ns = tenant_namespace(kube, f"bad-{run_id}")
    name = f"bad-{run_id}"
    kube.apply(cluster_synced_secret(name, "any", [{"key": "k", "name": "c"}], namespaces=[ns],
                                     child_name="Not_A_Name"))
    wait_for(lambda: (ready_condition(kube.read(API_VERSION, KIND, name)) or {}).get("reason") == "InvalidSpec",
             30, "InvalidSpec")
    assert "syncedSecretName" in (ready_condition(kube.read(API_VERSION, KIND, name)) or {})["message"]
    assert not children(kube, name)
