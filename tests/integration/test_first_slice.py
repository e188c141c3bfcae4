"""The foundation slice: a credstash credential written by `stashsync put` becomes a Secret."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from stashsync.api import API_VERSION
from stashsync.cli.main import main as cli
from stashsync.crypto import mac
from tests.harness.kube import Kube, ready_condition, wait_for
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration


def test_schema_rejects_a_syncedsecret_without_credentials(kube: Kube, namespace: str) -> None:
    bad = {"apiVersion": API_VERSION, "kind": "SyncedSecret", "metadata": {"name": "bad"},
           "spec": {"storeRef": {"name": "x"}}}
    with pytest.raises(ApiException) as caught:
        kube.apply(bad, namespace)
    assert caught.value.status == 422
    assert "list at least one credential in data or dataFrom" in caught.value.body.decode()


def test_schema_rejects_a_bad_key_and_a_bad_refresh_interval(kube: Kube, namespace: str) -> None:
    bad = synced_secret("bad", "x", [{"key": "no/slashes", "name": "a"}], refreshInterval="soon")
    with pytest.raises(ApiException) as caught:
        kube.apply(bad, namespace)
    assert caught.value.status == 422
    assert "spec.data[0].key" in caught.value.body.decode() and "spec.refreshInterval" in caught.value.body.decode()


def test_credstash_credential_becomes_a_secret_then_goes_with_its_syncedsecret(
        kube: Kube, operator: object, namespace: str, table: str) -> None:
    assert cli(["put", "-t", table, "app.db.password", "correct horse battery staple"]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": "password", "name": "app.db.password"}]), namespace)

    ready = wait_for(lambda: (c := ready_condition(kube.get(API_VERSION, "SyncedSecret", "app", namespace)))
                     and c["status"] == "True" and c, 60, "SyncedSecret Ready")
    assert ready["reason"] == "Synced"
    assert kube.secret_data(namespace, "app") == {"password": "correct horse battery staple"}
    status = kube.read(API_VERSION, "SyncedSecret", "app", namespace)["status"]
    assert status["syncedVersions"] == {"password": "1"}
    assert status["dataMAC"].startswith(mac.PREFIX)
    assert status["observedGeneration"] == 1
    # The Secret is ours and owned: its deletion waits for nobody (no finalizer, one write less).
    assert not kube.read(API_VERSION, "SyncedSecret", "app", namespace)["metadata"].get("finalizers")

    # This apiserver runs no garbage collector: the operator deletes the Secret when it sees its owner gone.
    kube.resource(API_VERSION, "SyncedSecret").delete(name="app", namespace=namespace)
    wait_for(lambda: kube.secret_data(namespace, "app") is None, 30, "Secret deleted with its owner")
    wait_for(lambda: kube.get(API_VERSION, "SyncedSecret", "app", namespace) is None, 30, "SyncedSecret gone")
