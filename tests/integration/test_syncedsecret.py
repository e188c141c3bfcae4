"""SyncedSecret against the real apiserver, moto_server and the operator under kopf."""

from __future__ import annotations

import time

import boto3
import pytest

from stashsync.api import API_VERSION
from stashsync.cli.main import main as cli
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready, wait_warning
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration


def _setup(kube: Kube, namespace: str, table: str, values: dict[str, str], **spec: object) -> None:
    for name, value in values.items():
        assert cli(["put", "-t", table, name, value]) == 0
    kube.apply(credstash_store("main", table), namespace)
    data = [{"key": n.replace(".", "-"), "name": n} for n in values]
    kube.apply(synced_secret("app", "main", data, **spec), namespace)


def test_edited_or_deleted_secret_is_restored(kube: Kube, operator: OperatorProcess, namespace: str,
                                              table: str) -> None:
    value = plaintext("drift-original-value")
    _setup(kube, namespace, table, {"db.pass": value})
    wait_ready(kube, namespace, "app")
    kube.core.patch_namespaced_secret("app", namespace, {"stringData": {"db-pass": "tampered", "extra": "x"}})
    wait_for(lambda: kube.secret_data(namespace, "app") == {"db-pass": value}, 30, "edit undone")
    kube.core.delete_namespaced_secret("app", namespace)
    wait_for(lambda: kube.secret_data(namespace, "app") == {"db-pass": value}, 30, "deleted Secret recreated")


def test_new_version_at_the_source_updates_the_secret(kube: Kube, operator: OperatorProcess, namespace: str,
                                                      table: str) -> None:
    first, second = plaintext("rotation-v1-value"), plaintext("rotation-v2-value")
    _setup(kube, namespace, table, {"api.key": first}, refreshInterval="1s")
    wait_ready(kube, namespace, "app")
    assert kube.secret_data(namespace, "app") == {"api-key": first}
    assert cli(["put", "-a", "-t", table, "api.key", second]) == 0
    wait_for(lambda: kube.secret_data(namespace, "app") == {"api-key": second}, 30, "rotated value")
    status = wait_for(lambda: (s := kube.read(API_VERSION, "SyncedSecret", "app", namespace)["status"])
                      ["syncedVersions"] == {"api-key": "2"} and s, 10, "status shows version 2")
    assert status["observedGeneration"] == 1


def test_steady_refresh_costs_one_query_per_credential_and_no_kms(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    _setup(kube, namespace, table, {"c.one": plaintext("cost-one"), "c.two": plaintext("cost-two")},
           refreshInterval="1s")
    wait_ready(kube, namespace, "app")
    time.sleep(1.5)  # let the first refresh settle

    def counts() -> tuple[float, float, float, float]:
        text = operator.scrape()  # one instant for all four
        return (operator.metric("stashsync_syncs_total", text, kind="SyncedSecret", reason="Synced"),
                operator.metric("stashsync_aws_calls_total", text, service="dynamodb", operation="Query"),
                operator.metric("stashsync_aws_calls_total", text, service="dynamodb", operation="GetItem"),
                operator.metric("stashsync_aws_calls_total", text, service="kms"))

    refreshes0, query0, get0, kms0 = counts()
    decrypts0 = operator.metric("stashsync_kms_decrypts_total")  # no refresh decrypts, so any instant will do
    time.sleep(5)
    refreshes1, query1, _, _ = counts()
    refreshes, queries = refreshes1 - refreshes0, query1 - query0
    assert refreshes >= 3
    # Two credentials, one version query each per refresh. A refresh caught between its queries and its
    # count at either end of the window may shift the tally by one refresh's worth (2), no more.
    assert abs(queries - 2 * refreshes) <= 2, (queries, refreshes)
    assert operator.metric("stashsync_aws_calls_total", service="dynamodb", operation="GetItem") == get0
    assert operator.metric("stashsync_aws_calls_total", service="kms") == kms0

    # A new version of one credential costs one GetItem and one KMS Decrypt, not two.
    assert cli(["put", "-a", "-t", table, "c.one", plaintext("cost-one-v2")]) == 0
    wait_for(lambda: (kube.secret_data(namespace, "app") or {}).get("c-one") == "cost-one-v2", 20, "new version")
    time.sleep(1)
    assert operator.metric("stashsync_aws_calls_total", service="dynamodb", operation="GetItem") == get0 + 1
    assert operator.metric("stashsync_aws_calls_total", service="kms") == kms0 + 1  # that one call is a Decrypt:
    assert operator.metric("stashsync_kms_decrypts_total") - decrypts0 == 1


def test_many_objects_on_one_credential_share_one_version_check_per_interval(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    """The shared version index: 20 objects reading one credential every second make about one
    version query per second between them, not 20; a new version found by one reaches all 20."""
    objects = 20
    assert cli(["put", "-t", table, "shared.key", plaintext("shared-v1")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    for i in range(objects):
        kube.apply(synced_secret(f"app-{i}", "main", [{"key": "k", "name": "shared.key"}], refreshInterval="1s"),
                   namespace)
    for i in range(objects):
        wait_ready(kube, namespace, f"app-{i}")

    def counts() -> tuple[float, float]:
        text = operator.scrape()
        return (operator.metric("stashsync_syncs_total", text, kind="SyncedSecret", reason="Synced"),
                operator.metric("stashsync_aws_calls_total", text, service="dynamodb", operation="Query"))

    syncs0, queries0 = counts()
    wait_for(lambda: counts()[0] - syncs0 >= 5 * objects, 60, "five refreshes of every object")
    syncs1, queries1 = counts()
    syncs, queries = syncs1 - syncs0, queries1 - queries0
    rounds = syncs / objects
    # One query per round; a round's objects spread over the jitter (10%), so a round may now and
    # then take two checks; without the index it would be `syncs` queries.
    assert 1 <= queries <= 1.5 * rounds + 2, (queries, syncs)

    assert cli(["put", "-a", "-t", table, "shared.key", plaintext("shared-v2")]) == 0
    wait_for(lambda: all((kube.secret_data(namespace, f"app-{i}") or {}).get("k") == "shared-v2"
                         for i in range(objects)), 20, "every object has the new version")


def test_missing_credential_is_not_ready_with_a_warning_and_writes_nothing(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": "k", "name": "does.not.exist"}]), namespace)
    condition = wait_ready(kube, namespace, "app", status="False", reason="CredentialNotFound")
    assert "does.not.exist" in condition["message"]
    wait_warning(kube, namespace, "app", "CredentialNotFound")
    assert kube.secret_data(namespace, "app") is None


def test_wrong_context_is_a_context_mismatch(kube: Kube, operator: OperatorProcess, namespace: str,
                                             table: str) -> None:
    assert cli(["put", "-t", table, "ctx.secret", plaintext("context-bound-value"), "app=web"]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": "k", "name": "ctx.secret", "context": {"app": "api"}}]),
               namespace)
    wait_ready(kube, namespace, "app", status="False", reason="ContextMismatch")
    assert kube.secret_data(namespace, "app") is None


def test_tampered_item_is_an_integrity_error_and_the_old_secret_stays(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    good = plaintext("integrity-good-value")
    _setup(kube, namespace, table, {"t.secret": good}, refreshInterval="1s")
    wait_ready(kube, namespace, "app")
    assert cli(["put", "-a", "-t", table, "t.secret", plaintext("integrity-next-value")]) == 0
    ddb = boto3.client("dynamodb")
    key = {"name": {"S": "t.secret"}, "version": {"S": "0000000000000000002"}}
    item = ddb.get_item(TableName=table, Key=key)["Item"]
    item["hmac"] = {"B": b"0" * 64}
    ddb.put_item(TableName=table, Item=item)
    wait_ready(kube, namespace, "app", status="False", reason="IntegrityError")
    assert kube.secret_data(namespace, "app") == {"t-secret": good}


def test_template_policies_and_find(kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    for name, value in {"svc.user": "u1", "svc.pass": plaintext("templ-pass"), "other.x": "nope"}.items():
        assert cli(["put", "-t", table, name, value]) == 0
    kube.apply(credstash_store("main", table), namespace)
    ssec = synced_secret("app", "main", [], dataFrom=[{"find": "svc.*"}],
                         target={"name": "rendered", "type": "kubernetes.io/basic-auth",
                                 "labels": {"team": "a"},
                                 "template": {"data": {"username": "{{ data['svc.user'] }}",
                                                       "password": "{{ data['svc.pass'] }}"}}})
    del ssec["spec"]["data"]
    kube.apply(ssec, namespace)
    wait_ready(kube, namespace, "app")
    assert kube.secret_data(namespace, "rendered") == {"username": "u1", "password": "templ-pass"}
    secret = kube.core.read_namespaced_secret("rendered", namespace)
    assert secret.type == "kubernetes.io/basic-auth" and secret.metadata.labels["team"] == "a"


def test_merge_adds_keys_to_an_existing_secret_and_removes_only_them(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    kube.core.create_namespaced_secret(namespace, {"metadata": {"name": "theirs"}, "stringData": {"own": "keep"}})
    assert cli(["put", "-t", table, "m.key", plaintext("merge-value")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": "added", "name": "m.key"}],
                             target={"name": "theirs", "creationPolicy": "Merge"}), namespace)
    wait_ready(kube, namespace, "app")
    assert kube.secret_data(namespace, "theirs") == {"own": "keep", "added": "merge-value"}
    kube.resource(API_VERSION, "SyncedSecret").delete(name="app", namespace=namespace)
    wait_for(lambda: kube.secret_data(namespace, "theirs") == {"own": "keep"}, 30, "our key removed")


def test_secret_owned_by_someone_else_is_a_conflict(kube: Kube, operator: OperatorProcess, namespace: str,
                                                    table: str) -> None:
    kube.core.create_namespaced_secret(namespace, {"metadata": {"name": "app"}, "stringData": {"x": "y"}})
    _setup(kube, namespace, table, {"conf.key": plaintext("conflict-value")})
    wait_ready(kube, namespace, "app", status="False", reason="SecretConflict")
    assert kube.secret_data(namespace, "app") == {"x": "y"}


def test_store_in_another_namespace_is_not_usable(kube: Kube, operator: OperatorProcess, namespace: str,
                                                  table: str) -> None:
    kube.apply(credstash_store("main", table), namespace)
    other = kube.create_namespace(namespace + "-b")
    kube.apply(synced_secret("app", "main", [{"key": "k", "name": "x"}]), other)
    wait_ready(kube, other, "app", status="False", reason="StoreNotReady")


def test_missing_table_makes_the_store_not_ready(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    kube.apply(credstash_store("gone", "no-such-table"), namespace)
    condition = wait_ready(kube, namespace, "gone", status="False", reason="StoreNotReady", kind="CredentialStore")
    assert "no-such-table" in condition["message"]
