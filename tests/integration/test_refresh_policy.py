"""refreshPolicy (Periodic, OnChange, CreatedOnce, as External Secrets Operator defines them),
target.immutable, and the Next Sync column, on the real apiserver."""

from __future__ import annotations

import datetime
import time

import pytest

from stashsync.api import API_VERSION, GROUP, VERSION
from stashsync.cli.main import main as cli
from stashsync.kube.labels import FORCE_SYNC_ANNOTATION
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import printed_rows, wait_ready
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration
QUIET_SECONDS = 4  # several refreshIntervals of 1 s: a Periodic object would have synced by now


def setup(kube: Kube, namespace: str, table: str, policy: str, **spec: object) -> None:
    assert cli(["put", "-t", table, "db.pass", plaintext(f"{policy}-v1")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": "pass", "name": "db.pass"}], refreshInterval="1s",
                             refreshPolicy=policy, **spec), namespace)
    wait_ready(kube, namespace, "app")
    assert cli(["put", "-a", "-t", table, "db.pass", plaintext(f"{policy}-v2")]) == 0


def patch(kube: Kube, namespace: str, body: dict[str, object]) -> None:
    kube.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "syncedsecrets", "app", body)


def value(kube: Kube, namespace: str, name: str = "app") -> str | None:
    return (kube.secret_data(namespace, name) or {}).get("pass")


def test_on_change_syncs_when_the_spec_changes_not_on_a_timer(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    setup(kube, namespace, table, "OnChange")
    time.sleep(QUIET_SECONDS)
    assert value(kube, namespace) == "OnChange-v1"
    assert "nextSyncTime" not in kube.read(API_VERSION, "SyncedSecret", "app", namespace)["status"]
    patch(kube, namespace, {"spec": {"target": {"labels": {"team": "a"}}}})
    wait_for(lambda: value(kube, namespace) == "OnChange-v2", 30, "the spec change synced the new version")


def test_created_once_writes_once_restores_a_deleted_secret_and_obeys_a_force_sync(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    setup(kube, namespace, table, "CreatedOnce")
    patch(kube, namespace, {"spec": {"target": {"labels": {"team": "a"}}}})
    wait_for(lambda: kube.read(API_VERSION, "SyncedSecret", "app", namespace)["status"].get("observedGeneration")
             == 2, 30, "the new generation seen")
    time.sleep(QUIET_SECONDS)
    assert value(kube, namespace) == "CreatedOnce-v1"  # neither a timer nor a spec change rewrites it

    kube.core.delete_namespaced_secret("app", namespace)
    wait_for(lambda: value(kube, namespace) == "CreatedOnce-v2", 30, "the deleted Secret created again")
    assert cli(["put", "-a", "-t", table, "db.pass", plaintext("CreatedOnce-v3")]) == 0
    patch(kube, namespace, {"metadata": {"annotations": {FORCE_SYNC_ANNOTATION: "now"}}})
    wait_for(lambda: value(kube, namespace) == "CreatedOnce-v3", 30, "the force-sync wrote the new version")


def test_an_immutable_secret_is_replaced_when_its_content_changes(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    assert cli(["put", "-t", table, "db.pass", plaintext("immutable-v1")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": "pass", "name": "db.pass"}], refreshInterval="1s",
                             target={"immutable": True}), namespace)
    wait_ready(kube, namespace, "app")
    first = kube.core.read_namespaced_secret("app", namespace)
    assert first.immutable is True
    assert cli(["put", "-a", "-t", table, "db.pass", plaintext("immutable-v2")]) == 0
    wait_for(lambda: value(kube, namespace) == "immutable-v2", 30, "the new version")
    second = kube.core.read_namespaced_secret("app", namespace)
    assert second.immutable is True and second.metadata.uid != first.metadata.uid


def test_kubectl_get_shows_when_the_next_sync_is_due(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    assert cli(["put", "-t", table, "db.pass", plaintext("columns-v1")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("hourly", "main", [{"key": "pass", "name": "db.pass"}], refreshInterval="1h"),
               namespace)
    kube.apply(synced_secret("manual", "main", [{"key": "pass", "name": "db.pass"}], refreshPolicy="OnChange"),
               namespace)
    wait_ready(kube, namespace, "hourly")
    wait_ready(kube, namespace, "manual")
    rows = printed_rows(kube, f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/syncedsecrets")
    # A time, not an age: a date column would print a future time as "<invalid>".
    due = datetime.datetime.fromisoformat(rows["hourly"]["Next Sync"].replace("Z", "+00:00"))
    ahead = (due - datetime.datetime.now(datetime.UTC)).total_seconds()
    assert 0.8 * 3600 < ahead < 1.2 * 3600
    assert rows["hourly"]["Ready"] == "True" and not rows["manual"]["Next Sync"]
