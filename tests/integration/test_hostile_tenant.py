"""A tenant with rights only in its own namespace, writing every field of its objects with hostile
intent, can read, leak, stall or overwrite nothing (real apiserver, moto, the operator under kopf).

Plaintexts are marked with `plaintext()`, so the session's leak test also greps the operator's logs,
events, statuses and annotations for every value used here."""

from __future__ import annotations

import time
import urllib.request
import uuid
from typing import Any

import boto3
import pytest

from stashsync import lambda_handler
from stashsync.api import API_VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.cli.main import main as cli
from stashsync.sources import wrap as wrapsrc
from stashsync.sources.wrap import DirectWrapService
from tests.harness.hostile import LONG_CREDENTIAL, REGEX_BAIT, hostile_objects
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import LEAK_CANARIES, plaintext
from tests.harness.operator_process import OperatorProcess, crashing_at, wait_crashed
from tests.integration.helpers import wait_ready, wait_warning, warning_reasons
from tests.integration.test_wrappedsecret import item as wrap_item
from tests.integration.test_wrappedsecret import make_token
from tests.objects import (
    cluster_credstash_store,
    credstash_store,
    synced_secret,
    wrap_store,
    wrapped_secret,
)

pytestmark = pytest.mark.integration


def _store(name: str, table: str, **spec: Any) -> dict[str, Any]:
    store = credstash_store(name, table)
    store["spec"].update(spec)
    return store


# --- Identity: a namespaced store must not borrow the operator's AWS identity -------------------------


def test_a_namespaced_store_without_its_own_identity_reads_nothing(kube: Kube, operator: OperatorProcess,
                                                                    namespace: str, table: str) -> None:
    assert cli(["put", "-t", table, "shared.db.password", plaintext("operator-identity-only-value")]) == 0
    store = _store("borrowed", table)
    del store["spec"]["auth"]
    kube.apply(store, namespace)
    condition = wait_ready(kube, namespace, "borrowed", status="False", reason="OperatorIdentityNotAllowed",
                           kind="CredentialStore")
    assert "auth.secretRef" in condition["message"] and "ClusterCredentialStore" in condition["message"]
    wait_warning(kube, namespace, "borrowed", "OperatorIdentityNotAllowed")
    kube.apply(synced_secret("everything", "borrowed", [], dataFrom=[{"find": "*"}]), namespace)
    wait_ready(kube, namespace, "everything", status="False", reason="StoreNotReady")
    assert kube.secret_data(namespace, "everything") is None


def test_roles_assumed_from_the_operators_identity_only_as_the_admin_allowed(kube: Kube, operator: OperatorProcess,
                                                                            namespace: str, table: str) -> None:
    store = _store("admin-role", table, auth={"roleArn": "arn:aws:iam::123456789012:role/admin"})
    kube.apply(store, namespace)
    condition = wait_ready(kube, namespace, "admin-role", status="False", reason="OperatorIdentityNotAllowed",
                           kind="CredentialStore")
    assert "tenancy.assumableRoles" in condition["message"]
    # The test operator's tenancy allows stashsync-* roles for t-* namespaces: that one works.
    kube.apply(_store("allowed-role", table, auth={"roleArn": "arn:aws:iam::123456789012:role/stashsync-t"}),
               namespace)
    wait_ready(kube, namespace, "allowed-role", kind="CredentialStore")


def test_endpoints_and_token_audiences_only_as_the_admin_allowed(kube: Kube, operator: OperatorProcess,
                                                                 namespace: str, table: str) -> None:
    kube.apply(_store("exfil", table, endpoint="https://attacker.invalid"), namespace)
    wait_ready(kube, namespace, "exfil", status="False", reason="EndpointNotAllowed", kind="CredentialStore")
    kube.apply(_store("exfil-sts", table, endpoints={"sts": "https://attacker.invalid/sts"}), namespace)
    wait_ready(kube, namespace, "exfil-sts", status="False", reason="EndpointNotAllowed", kind="CredentialStore")
    jwt = {"jwt": {"serviceAccountRef": {"name": "default", "audiences": ["https://kubernetes.default.svc"]}},
           "roleArn": "arn:aws:iam::123456789012:role/stashsync-t"}
    kube.apply(_store("audience", table, auth=jwt), namespace)
    wait_ready(kube, namespace, "audience", status="False", reason="AudienceNotAllowed", kind="CredentialStore")


# --- No value in any message ---------------------------------------------------------------------------


@pytest.mark.parametrize("template", [
    "{{ data[password] }}", "{{ password|attr(password) }}", "{{ data[password|upper] }}",
    "{{ (password|int) + password }}", "{{ password|float + password }}", "{{ password|fromjson }}",
    "{{ password[password] }}", "{% set p = password %}{{ data[p ~ ''] }}",
])
def test_template_errors_never_carry_the_value(kube: Kube, operator: OperatorProcess, namespace: str, table: str,
                                               template: str) -> None:
    value = plaintext(f"tmpl-leak-{uuid.uuid4().hex[:12]}")
    assert cli(["put", "-t", table, "leaky.password", value]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("leaky", "main", [{"key": "password", "name": "leaky.password"}],
                             target={"template": {"data": {"out": template}}}), namespace)
    condition = wait_ready(kube, namespace, "leaky", status="False", reason="TemplateError")
    assert value not in condition["message"] and "'out'" in condition["message"]
    wait_warning(kube, namespace, "leaky", "TemplateError")
    assert all(value not in (e.message or "") for e in kube.events_for(namespace, "leaky"))
    assert value not in operator.log.read_text(errors="replace")
    assert kube.secret_data(namespace, "leaky") is None


def test_verbose_logs_carry_no_wrap_token(kube: Kube, operator: OperatorProcess, namespace: str,
                                          wrap_table: str) -> None:
    token = make_token(wrap_table, plaintext("verbose-wrapped-value"))
    operator.stop()
    verbose = OperatorProcess(operator.folder.parent / "operator-verbose", operator.kubeconfig, operator.aws_env,
                              operator.namespace, extra_args=["--verbose"])
    try:
        verbose.start()
        kube.apply(wrap_store("wrap", wrap_table), namespace)
        kube.apply(wrapped_secret("w", "wrap", token), namespace)
        wait_ready(kube, namespace, "w", kind="WrappedSecret", reason="Unwrapped")
    finally:
        verbose.stop()
        operator.start()
    log = verbose.log.read_text(errors="replace")
    assert "Creation is in progress" in log or "Resuming is in progress" in log  # kopf did log the body
    assert token not in log and "verbose-wrapped-value" not in log


# --- MACs are never comparable across objects -------------------------------------------------------------


def test_a_literal_guess_in_a_template_is_not_comparable_with_another_objects_mac(
        kube: Kube, operator: OperatorProcess, namespace: str, victim: str, table: str) -> None:
    guess = plaintext(f"mac-oracle-{uuid.uuid4().hex[:10]}")
    assert cli(["put", "-t", table, "victim.password", guess]) == 0
    assert cli(["put", "-t", table, "attacker.any", plaintext("attacker-own-value")]) == 0
    kube.apply(credstash_store("main", table), victim)
    kube.apply(synced_secret("db", "main", [{"key": "password", "name": "victim.password"}]), victim)
    kube.apply(credstash_store("main", table), namespace)
    # The attacker's Secret holds exactly {"password": guess}, as the victim's does.
    kube.apply(synced_secret("probe", "main", [{"key": "any", "name": "attacker.any"}],
                             target={"template": {"data": {"password": guess}}}), namespace)
    wait_ready(kube, victim, "db")
    wait_ready(kube, namespace, "probe")
    assert kube.secret_data(victim, "db") == kube.secret_data(namespace, "probe") == {"password": guess}
    victim_mac = kube.read(API_VERSION, "SyncedSecret", "db", victim)["status"]["dataMAC"]
    probe_mac = kube.read(API_VERSION, "SyncedSecret", "probe", namespace)["status"]["dataMAC"]
    assert victim_mac != probe_mac


# --- One object must not stall the others -----------------------------------------------------------------


def test_hostile_objects_do_not_delay_another_tenants_rotation(kube: Kube, operator: OperatorProcess,
                                                               namespace: str, victim: str, table: str) -> None:
    assert cli(["put", "-t", table, LONG_CREDENTIAL, plaintext("L" * 2000 + "-hostile-long")]) == 0
    for i, bait in enumerate(REGEX_BAIT):
        assert cli(["put", "-t", table, bait, plaintext(f"regex-bait-{i}")]) == 0
    assert cli(["put", "-t", table, "victim.token", plaintext("victim-v1")]) == 0
    # The victim's sync renders a template too, so it shares the template sandbox with the hostile ones.
    kube.apply(credstash_store("main", table), victim)
    kube.apply(synced_secret("app", "main", [{"key": "token", "name": "victim.token"}], refreshInterval="2s",
                             target={"template": {"data": {"token": "{{ token }}", "line": "t={{ token }}"}}}),
               victim)
    wait_ready(kube, victim, "app")
    for body in hostile_objects(table):
        kube.apply(body, namespace)
    wait_ready(kube, namespace, "endless-0", status="False", reason="TemplateError", timeout=60)

    assert cli(["put", "-a", "-t", table, "victim.token", plaintext("victim-v2")]) == 0
    rotated = time.monotonic()
    wait_for(lambda: kube.secret_data(victim, "app") == {"token": "victim-v2", "line": "t=victim-v2"}, 90,
             "the victim's rotated credential in its Secret")
    delay = time.monotonic() - rotated
    print(f"\nvictim rotation reached its Secret {delay:.1f} s after put -a (refreshInterval 2s)")
    with urllib.request.urlopen(operator.liveness_url, timeout=5) as response:
        assert response.status == 200
    condition = wait_ready(kube, namespace, "huge", status="False", reason="TemplateError")
    assert "too much" in condition["message"]
    wait_ready(kube, namespace, "power", status="False", reason="TemplateError")
    endless = wait_ready(kube, namespace, "endless-0", status="False", reason="TemplateError")
    assert "longer than" in endless["message"]


def test_hot_loop_intervals_are_refused_by_the_schema(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    from kubernetes.client.exceptions import ApiException

    for field in ({"refreshInterval": "1ms"}, {"encryption": {"kms": {"keyId": "alias/x"}, "rotateEvery": "1ms"}}):
        with pytest.raises(ApiException) as caught:
            kube.apply(synced_secret("hot", "main", [{"key": "k", "name": "n"}], **field), namespace)
        assert caught.value.status == 422


# --- No writes to what the tenant's object does not own ---------------------------------------------------


def _generating_store(table: str, allow: bool = True) -> dict[str, Any]:
    store = _store("main", table)
    store["spec"]["credstash"]["allowGenerate"] = allow
    return store


def _generated(name: str, credential: str, rotate: str = "0") -> dict[str, Any]:
    return synced_secret(name, "main", [{"key": "pw", "name": credential,
                                         "generate": {"length": 20, "rotateEvery": rotate, "keep": 2}}])


def _table_versions(table: str, credential: str) -> list[tuple[str, str | None, float]]:
    from stashsync.sources.credstash import CredstashSource

    source = CredstashSource(AwsClients(AwsAuth(region="us-east-1")), table=table)
    return [(v.version, v.generated_by, v.generated_at) for v in source.generated_versions(credential)]


def _mark_generated(kube: Kube, namespace: str, name: str) -> None:
    """Generated values are plaintexts too: the session's leak test greps for them."""
    LEAK_CANARIES.update((kube.secret_data(namespace, name) or {}).values())


def test_generation_only_where_the_store_allows_it(kube: Kube, operator: OperatorProcess, namespace: str,
                                                  table: str) -> None:
    kube.apply(_generating_store(table, allow=False), namespace)
    kube.apply(_generated("gen", "not.allowed"), namespace)
    condition = wait_ready(kube, namespace, "gen", status="False", reason="GenerationNotAllowed")
    assert "allowGenerate" in condition["message"]
    wait_warning(kube, namespace, "gen", "GenerationNotAllowed")
    assert _table_versions(table, "not.allowed") == []
    kube.apply(_generating_store(table), namespace)
    kube.apply(_generated("gen", "not.allowed"), namespace)  # a new generation wakes it at once
    wait_ready(kube, namespace, "gen")
    assert [by for _, by, _ in _table_versions(table, "not.allowed")] == [f"{namespace}/gen"]
    _mark_generated(kube, namespace, "gen")


def test_generate_never_adopts_a_credential_someone_else_wrote(kube: Kube, operator: OperatorProcess,
                                                               namespace: str, table: str) -> None:
    assert cli(["put", "-t", table, "shared.api.key", plaintext("written-by-a-person-value")]) == 0
    kube.apply(_generating_store(table), namespace)
    kube.apply(_generated("takeover", "shared.api.key", rotate="1s"), namespace)
    condition = wait_ready(kube, namespace, "takeover", status="False", reason="CredentialNotGenerated")
    assert "shared.api.key" in condition["message"]
    time.sleep(3)  # several rotation periods: still nothing written, nothing pruned
    assert [(v, by) for v, by, _ in _table_versions(table, "shared.api.key")] == [("0000000000000000001", None)]
    assert kube.secret_data(namespace, "takeover") is None


def test_generate_stops_rotating_once_someone_writes_over_it(kube: Kube, operator: OperatorProcess,
                                                             namespace: str, table: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    kube.apply(_generating_store(table), namespace)
    kube.apply(_generated("gen", "app.token", rotate="2s"), namespace)
    wait_ready(kube, namespace, "gen")
    wait_for(lambda: len(_table_versions(table, "app.token")) >= 2, 30, "a first rotation")
    _mark_generated(kube, namespace, "gen")
    assert cli(["put", "-a", "-t", table, "app.token", plaintext("a-person-took-it-over-value")]) == 0
    wait_for(lambda: kube.secret_data(namespace, "gen") == {"pw": "a-person-took-it-over-value"}, 30,
             "the person's value synced")
    settled = _table_versions(table, "app.token")
    time.sleep(5)  # more than two rotation periods
    assert _table_versions(table, "app.token") == settled  # no rotation over it, nothing of it pruned
    assert settled[0][1] is None and kube.secret_data(namespace, "gen") == {"pw": "a-person-took-it-over-value"}


def test_a_failing_sync_does_not_rotate_on_every_retry(kube: Kube, operator: OperatorProcess, namespace: str,
                                                       table: str) -> None:
    kube.apply(_generating_store(table), namespace)
    kube.apply(_generated("gen", "retry.token", rotate="3s"), namespace)
    wait_ready(kube, namespace, "gen")
    kube.core.delete_namespaced_secret("gen", namespace)  # replaced by a Secret the object cannot write
    wait_for(lambda: kube.secret_data(namespace, "gen") is not None, 30, "the Secret written again")
    kube.core.delete_namespaced_secret("gen", namespace)
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gen"}, "stringData": {"x": "y"}},
               namespace)
    wait_ready(kube, namespace, "gen", status="False", reason="SecretConflict")
    held = _table_versions(table, "retry.token")
    time.sleep(8)  # the failing object retries, and rotation periods pass, meanwhile
    assert _table_versions(table, "retry.token") == held  # nothing rotated, nothing pruned while undelivered
    kube.core.delete_namespaced_secret("gen", namespace)
    wait_ready(kube, namespace, "gen", timeout=90)
    _mark_generated(kube, namespace, "gen")


def _synced(kube: Kube, namespace: str, table: str, name: str, credential: str, value: str, secret: str,
            policy: str = "Owner") -> dict[str, Any]:
    assert cli(["put", "-t", table, credential, plaintext(value)]) == 0
    body = synced_secret(name, "main", [{"key": name, "name": credential}],
                         target={"name": secret, "creationPolicy": policy})
    kube.apply(body, namespace)
    return body


def test_merge_never_takes_over_a_secret_another_stashsync_object_manages(kube: Kube, operator: OperatorProcess,
                                                                          namespace: str, table: str) -> None:
    kube.apply(credstash_store("main", table), namespace)
    _synced(kube, namespace, table, "owner", "own.key", "owned-value", "shared")
    wait_ready(kube, namespace, "owner")
    intruder = _synced(kube, namespace, table, "intruder", "intr.key", "intruder-value", "shared", "Merge")
    condition = wait_ready(kube, namespace, "intruder", status="False", reason="SecretConflict")
    assert "SyncedSecret/owner" in condition["message"]
    intruder["spec"]["target"]["creationPolicy"] = "Owner"  # then claim it outright
    kube.apply(intruder, namespace)
    wait_for(lambda: (kube.read(API_VERSION, "SyncedSecret", "intruder", namespace).get("status") or {}).get(
        "conditions", [{}])[0].get("observedGeneration") == 2, 30, "the Owner attempt judged")
    wait_ready(kube, namespace, "intruder", status="False", reason="SecretConflict")
    kube.resource(API_VERSION, "SyncedSecret").delete(name="intruder", namespace=namespace)
    time.sleep(2)
    assert kube.secret_data(namespace, "shared") == {"owner": "owned-value"}
    annotations = kube.core.read_namespaced_secret("shared", namespace).metadata.annotations
    assert annotations["stashsync.dev/owner"] == "SyncedSecret/owner"


def test_two_merge_objects_cannot_strip_each_others_keys(kube: Kube, operator: OperatorProcess, namespace: str,
                                                         table: str) -> None:
    kube.core.create_namespaced_secret(namespace, {"metadata": {"name": "theirs"}, "stringData": {"own": "keep"}})
    kube.apply(credstash_store("main", table), namespace)
    _synced(kube, namespace, table, "first", "first.key", "first-merge-value", "theirs", "Merge")
    wait_ready(kube, namespace, "first")
    _synced(kube, namespace, table, "second", "second.key", "second-merge-value", "theirs", "Merge")
    wait_ready(kube, namespace, "second", status="False", reason="SecretConflict")
    assert kube.secret_data(namespace, "theirs") == {"own": "keep", "first": "first-merge-value"}


def test_merge_never_writes_into_service_account_tokens(kube: Kube, operator: OperatorProcess, namespace: str,
                                                        table: str) -> None:
    kube.core.create_namespaced_secret(namespace, {
        "metadata": {"name": "sa-token", "annotations": {"kubernetes.io/service-account.name": "default"}},
        "type": "kubernetes.io/service-account-token", "stringData": {"token": "not-a-real-token"}})
    kube.apply(credstash_store("main", table), namespace)
    _synced(kube, namespace, table, "sneaky", "sneaky.key", "sneaky-value", "sa-token", "Merge")
    condition = wait_ready(kube, namespace, "sneaky", status="False", reason="SecretConflict")
    assert "service-account-token" in condition["message"]
    assert "sneaky" not in (kube.secret_data(namespace, "sa-token") or {})


def test_an_invalid_spec_at_deletion_removes_only_the_merged_keys(kube: Kube, operator: OperatorProcess,
                                                                  namespace: str, table: str) -> None:
    kube.core.create_namespaced_secret(namespace, {"metadata": {"name": "theirs"}, "stringData": {"own": "keep"}})
    kube.apply(credstash_store("main", table), namespace)
    body = _synced(kube, namespace, table, "merger", "merger.key", "merger-value", "theirs", "Merge")
    wait_ready(kube, namespace, "merger")
    # Schema-valid, but the parser refuses it (a generated credential cannot pin a version): the deletion
    # sees no policy.
    body["spec"]["data"] = [{"key": "merger", "name": "merger.key", "version": "1", "generate": {}}]
    kube.apply(body, namespace)
    wait_ready(kube, namespace, "merger", status="False", reason="InvalidSpec")
    kube.resource(API_VERSION, "SyncedSecret").delete(name="merger", namespace=namespace)
    wait_for(lambda: kube.secret_data(namespace, "theirs") == {"own": "keep"}, 30, "only the merged key removed")
    time.sleep(1)
    assert kube.secret_data(namespace, "theirs") == {"own": "keep"}


# --- Smaller edges ----------------------------------------------------------------------------------------


def test_a_non_text_token_secret_is_a_condition_not_a_traceback(kube: Kube, operator: OperatorProcess,
                                                                namespace: str, wrap_table: str) -> None:
    import base64

    kube.core.create_namespaced_secret(namespace, {"metadata": {"name": "binary-token"},
                                                   "data": {"token": base64.b64encode(b"\xff\xfe\x00bad").decode()}})
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apply(wrapped_secret("w", "wrap", tokenSecretRef={"name": "binary-token", "key": "token"}), namespace)
    condition = wait_ready(kube, namespace, "w", status="False", kind="WrappedSecret")
    assert "not text" in condition["message"]
    assert "Traceback" not in operator.log.read_text(errors="replace")


def test_dataFrom_names_that_become_one_key_are_reported_not_guessed(kube: Kube, operator: OperatorProcess,
                                                                     namespace: str, table: str) -> None:
    assert cli(["put", "-t", table, "coll/x", plaintext("collide-slash")]) == 0
    assert cli(["put", "-t", table, "coll_x", plaintext("collide-underscore")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("coll", "main", [], dataFrom=[{"find": "coll*"}]), namespace)
    condition = wait_ready(kube, namespace, "coll", status="False", reason="KeyCollision")
    assert "coll/x" in condition["message"] and "coll_x" in condition["message"]
    wait_warning(kube, namespace, "coll", "KeyCollision")
    assert kube.secret_data(namespace, "coll") is None


def test_removed_keys_leave_synced_versions_and_a_fixed_spec_syncs_at_once(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    assert cli(["put", "-t", table, "two.a", plaintext("two-a-value")]) == 0
    assert cli(["put", "-t", table, "two.b", plaintext("two-b-value")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    body = synced_secret("two", "main", [{"key": "a", "name": "two.a"}, {"key": "b", "name": "two.b"}])
    kube.apply(body, namespace)
    wait_ready(kube, namespace, "two")
    body["spec"]["data"] = body["spec"]["data"][:1]
    kube.apply(body, namespace)
    wait_for(lambda: set((kube.read(API_VERSION, "SyncedSecret", "two", namespace).get("status") or {}).get(
        "syncedVersions") or {}) == {"a"}, 30, "syncedVersions without the removed key")

    # Never synced and invalid (retried only every 5 minutes), then fixed: synced now, not after the backoff.
    broken = synced_secret("late", "main", [{"key": "a", "name": "two.a", "version": "1", "generate": {}}])
    kube.apply(broken, namespace)
    wait_ready(kube, namespace, "late", status="False", reason="InvalidSpec")
    broken["spec"]["data"] = [{"key": "a", "name": "two.a"}]
    kube.apply(broken, namespace)
    wait_ready(kube, namespace, "late", timeout=30)


def test_an_edit_after_an_operator_restart_is_undone_even_without_refresh(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    assert cli(["put", "-t", table, "still.watched", plaintext("watched-after-restart-value")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": "k", "name": "still.watched"}], refreshInterval="0"),
               namespace)
    wait_ready(kube, namespace, "app")
    operator.stop()
    operator.start()  # an empty memory of what it wrote; refreshInterval 0 never writes again by itself
    time.sleep(3)  # the new process has listed the objects
    kube.core.patch_namespaced_secret("app", namespace, {"stringData": {"k": "tampered"}})
    wait_for(lambda: kube.secret_data(namespace, "app") == {"k": "watched-after-restart-value"}, 30,
             "the edit undone")


def test_revoking_a_namespace_stops_its_syncs_and_keeps_the_last_value(kube: Kube, operator: OperatorProcess,
                                                                       namespace: str, table: str) -> None:
    """Decided: keep (as an AWS outage would), with a condition and a Warning; README's trust model."""
    assert cli(["put", "-t", table, "revoked.key", plaintext("revoked-last-value")]) == 0
    store_name = f"shared-{uuid.uuid4().hex[:8]}"
    store = cluster_credstash_store(store_name, table)
    store["spec"]["conditions"] = [{"namespaces": [namespace]}]
    kube.apply(store)
    body = synced_secret("app", store_name, [{"key": "k", "name": "revoked.key"}], refreshInterval="1s")
    body["spec"]["storeRef"]["kind"] = "ClusterCredentialStore"
    kube.apply(body, namespace)
    wait_ready(kube, namespace, "app")
    store["spec"]["conditions"] = [{"namespaces": ["someone-else"]}]
    kube.apply(store)
    wait_ready(kube, namespace, "app", status="False", reason="StoreNotAllowed", timeout=30)
    wait_warning(kube, namespace, "app", "StoreNotAllowed")
    assert kube.secret_data(namespace, "app") == {"k": "revoked-last-value"}
    kube.resource(API_VERSION, "ClusterCredentialStore").delete(name=store_name)


# --- Wrap tokens: the last edges -----------------------------------------------------------------------


def _wrap_service(table: str) -> DirectWrapService:
    return DirectWrapService(AwsClients(AwsAuth(region="us-east-1")), table, "alias/wrap-service")


def test_a_claim_made_in_time_is_honoured_after_the_ttl(kube: Kube, operator: OperatorProcess, namespace: str,
                                                        wrap_table: str) -> None:
    # Long enough for a fresh operator to list a busy cluster and claim in time, on a loaded machine.
    token = make_token(wrap_table, plaintext("claimed-in-time-value"), ttl=40)
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    with crashing_at(operator, "claimed") as crasher:
        kube.apply(wrapped_secret("late", "wrap", token), namespace)
        wait_crashed(crasher, "operator to die after its claim")
        stored = wrap_item(wrap_table, token)
        assert stored is not None and "stashsync_claimed_by" in stored
        time.sleep(max(0.0, int(stored["ttl"]["N"]) - time.time() + 1))  # the retry comes after the TTL
    wait_ready(kube, namespace, "late", kind="WrappedSecret", reason="Unwrapped")
    assert kube.secret_data(namespace, "late") == {"value": "claimed-in-time-value"}


def test_a_taken_target_is_reported_before_the_token_is_claimed(kube: Kube, operator: OperatorProcess,
                                                                namespace: str, wrap_table: str) -> None:
    token = make_token(wrap_table, plaintext("unclaimed-while-blocked-value"))
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "taken"}, "stringData": {"x": "y"}},
               namespace)
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apply(wrapped_secret("w", "wrap", token, target={"name": "taken"}), namespace)
    condition = wait_ready(kube, namespace, "w", status="False", reason="SecretConflict", kind="WrappedSecret")
    assert "target.name" in condition["message"] and "Merge" not in condition["message"]
    stored = wrap_item(wrap_table, token)
    assert stored is not None and "stashsync_claimed_by" not in stored  # its TTL is not running down for us
    kube.apply(wrapped_secret("w", "wrap", token, target={"name": "free"}), namespace)
    wait_ready(kube, namespace, "w", kind="WrappedSecret", reason="Unwrapped")
    assert kube.secret_data(namespace, "free") == {"value": "unclaimed-while-blocked-value"}
    assert kube.secret_data(namespace, "taken") == {"x": "y"}


def test_an_item_the_table_ttl_removed_after_the_write_is_success(kube: Kube, operator: OperatorProcess,
                                                                  namespace: str, wrap_table: str) -> None:
    token = make_token(wrap_table, plaintext("ttl-removed-after-write-value"))
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    with crashing_at(operator, "written") as crasher:
        kube.apply(wrapped_secret("w", "wrap", token), namespace)
        wait_crashed(crasher, "operator to die after writing")
        boto3.client("dynamodb").delete_item(TableName=wrap_table,
                                             Key={"pk": {"S": "WRAPPED_SECRET"}, "sk": {"S": token}})
    wait_ready(kube, namespace, "w", kind="WrappedSecret", reason="Unwrapped")
    assert kube.secret_data(namespace, "w") == {"value": "ttl-removed-after-write-value"}


def test_a_claimed_token_is_not_unwrapped_again_by_the_cli_or_the_lambda(
        aws_env: dict[str, str], wrap_table: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    token = make_token(wrap_table, plaintext("claimed-by-a-wrappedsecret-value"))
    _wrap_service(wrap_table).claim(token, "some-wrappedsecret-uid")
    assert cli(["unwrap", "-r", "us-east-1", "--table", wrap_table, token]) == 1
    assert "a WrappedSecret is unwrapping this token" in capsys.readouterr().err
    monkeypatch.setenv("TABLE", wrap_table)
    monkeypatch.setenv("KMS_KEY", "alias/wrap-service")
    assert lambda_handler.handler({"token": token})["error"] == "AlreadyConsumed"
    assert wrap_item(wrap_table, token) is not None  # still there for the claim's owner


def test_an_expired_token_is_refused_and_pruned_by_the_cli_and_the_lambda(
        aws_env: dict[str, str], wrap_table: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    late = make_token(wrap_table, plaintext("expired-cli-value"), ttl=-5)
    assert cli(["unwrap", "-r", "us-east-1", "--table", wrap_table, late]) == 1
    err = capsys.readouterr().err
    assert "expired" in err and err.count("\n") == 1
    assert wrap_item(wrap_table, late) is None
    monkeypatch.setenv("TABLE", wrap_table)
    monkeypatch.setenv("KMS_KEY", "alias/wrap-service")
    later = make_token(wrap_table, plaintext("expired-lambda-value"), ttl=-5)
    assert lambda_handler.handler({"token": later})["error"] == "Expired"
    assert wrap_item(wrap_table, later) is None


def test_an_orphaned_claim_is_pruned_and_a_recent_one_kept(aws_env: dict[str, str], wrap_table: str) -> None:
    service = _wrap_service(wrap_table)
    orphan = make_token(wrap_table, plaintext("orphaned-claim-value"), ttl=-8 * 86400)
    recent = make_token(wrap_table, plaintext("recent-claim-value"), ttl=-60)
    for token in (orphan, recent):
        with pytest.raises(wrapsrc.Expired):  # a first claim after the TTL is refused, and prunes
            service.claim(token, "first-try")
        assert wrap_item(wrap_table, token) is None
    orphan = make_token(wrap_table, plaintext("orphaned-claim-value-2"), ttl=-8 * 86400)
    recent = make_token(wrap_table, plaintext("recent-claim-value-2"), ttl=-60)
    ddb = boto3.client("dynamodb")
    for token, claimed_at in ((orphan, time.time() - 8 * 86400), (recent, time.time() - 60)):
        ddb.update_item(TableName=wrap_table, Key={"pk": {"S": "WRAPPED_SECRET"}, "sk": {"S": token}},
                        UpdateExpression="SET stashsync_claimed_by = :c, stashsync_claimed_at = :t",
                        ExpressionAttributeValues={":c": {"S": "gone-uid"}, ":t": {"N": str(int(claimed_at))}})
    assert service.prune_expired() == 1
    assert wrap_item(wrap_table, orphan) is None and wrap_item(wrap_table, recent) is not None


def test_a_token_starting_with_a_dash_is_unwrapped_by_the_cli(aws_env: dict[str, str], wrap_table: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    token = make_token(wrap_table, plaintext("dash-token-value"))
    stored = wrap_item(wrap_table, token)
    assert stored is not None
    dashed = plaintext("-" + token[1:])
    ddb = boto3.client("dynamodb")
    ddb.put_item(TableName=wrap_table, Item={**stored, "sk": {"S": dashed}, "token": {"S": dashed}})
    assert cli(["unwrap", dashed, "-r", "us-east-1", "--table", wrap_table]) == 0
    assert capsys.readouterr().out == "dash-token-value\n"


def test_renaming_the_target_moves_the_value(kube: Kube, operator: OperatorProcess, namespace: str,
                                             wrap_table: str) -> None:
    token = make_token(wrap_table, plaintext("moved-value"))
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apply(wrapped_secret("w", "wrap", token, target={"name": "first"}), namespace)
    wait_ready(kube, namespace, "w", kind="WrappedSecret", reason="Unwrapped")
    kube.apply(wrapped_secret("w", "wrap", token, target={"name": "second"}), namespace)
    wait_for(lambda: kube.secret_data(namespace, "second") == {"value": "moved-value"}, 30, "the value moved")
    wait_for(lambda: kube.secret_data(namespace, "first") is None, 30, "the old Secret removed")
    condition = wait_ready(kube, namespace, "w", kind="WrappedSecret", reason="Unwrapped")
    assert "second" in condition["message"]
    assert kube.read(API_VERSION, "WrappedSecret", "w", namespace)["status"]["secretName"] == "second"
    time.sleep(2)  # the old Secret's deletion event has been seen: it must not read as a loss
    assert "SecretLost" not in warning_reasons(kube, namespace, "w")
