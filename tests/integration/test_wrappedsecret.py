"""WrappedSecret: one-time tokens become Secrets exactly once, even when the operator is killed."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from stashsync.api import API_VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.crypto.wrap import token_sha256
from stashsync.sources.wrap import TOMBSTONE_PK, DirectWrapService, seal_client_layer
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess, crashing_at, wait_crashed
from tests.integration.helpers import wait_ready, wait_warning
from tests.objects import wrap_store, wrapped_secret

pytestmark = pytest.mark.integration


def make_token(table: str, value: str, ttl: int = 900) -> str:
    clients = AwsClients(AwsAuth(region="us-east-1"))
    client_value, data_key = seal_client_layer(clients, value.encode(), "alias/wrap-client")
    token = DirectWrapService(clients, table, "alias/wrap-service").wrap(
        client_value, data_key, "alias/wrap-client", int(time.time()) + ttl)
    return plaintext(token)  # the leak test greps for tokens too


def _stored(table: str, pk: str, sk: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = boto3.client("dynamodb").get_item(
        TableName=table, ConsistentRead=True, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
    return found


def item(table: str, token: str) -> dict[str, Any] | None:
    return _stored(table, "WRAPPED_SECRET", token)


def tombstone(table: str, token: str) -> dict[str, Any] | None:
    return _stored(table, TOMBSTONE_PK, token_sha256(token))


def test_token_becomes_a_secret_once_and_status_keeps_only_a_hash_prefix(
        kube: Kube, operator: OperatorProcess, namespace: str, wrap_table: str) -> None:
    token = make_token(wrap_table, plaintext("wrapped-db-password"))
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apply(wrapped_secret("db", "wrap", token), namespace)
    wait_ready(kube, namespace, "db", kind="WrappedSecret", reason="Unwrapped")
    assert kube.secret_data(namespace, "db") == {"value": "wrapped-db-password"}
    status = kube.read(API_VERSION, "WrappedSecret", "db", namespace)["status"]
    assert status["tokenSHA256Prefix"] == token_sha256(token)[:16] and status["consumedAt"]
    assert item(wrap_table, token) is None and tombstone(wrap_table, token) is not None
    annotations = kube.read(API_VERSION, "WrappedSecret", "db", namespace)["metadata"]["annotations"] or {}
    assert not any(token in v for v in annotations.values())


def test_token_from_a_secret_with_a_json_value_becomes_keys(kube: Kube, operator: OperatorProcess,
                                                            namespace: str, wrap_table: str) -> None:
    token = make_token(wrap_table, '{"username": "svc", "password": "' + plaintext("json-wrapped-pass") + '"}')
    kube.core.create_namespaced_secret(namespace, {"metadata": {"name": "handoff"}, "stringData": {"token": token}})
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apply(wrapped_secret("creds", "wrap", tokenSecretRef={"name": "handoff"},
                              target={"name": "svc-creds", "type": "kubernetes.io/basic-auth"}), namespace)
    wait_ready(kube, namespace, "creds", kind="WrappedSecret")
    assert kube.secret_data(namespace, "svc-creds") == {"username": "svc", "password": "json-wrapped-pass"}


def test_a_second_wrappedsecret_with_the_same_token_is_already_consumed(
        kube: Kube, operator: OperatorProcess, namespace: str, wrap_table: str) -> None:
    token = make_token(wrap_table, plaintext("only-once-value"))
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apply(wrapped_secret("first", "wrap", token), namespace)
    wait_ready(kube, namespace, "first", kind="WrappedSecret")
    kube.apply(wrapped_secret("second", "wrap", token), namespace)
    wait_ready(kube, namespace, "second", status="False", reason="AlreadyConsumed", kind="WrappedSecret")
    assert kube.secret_data(namespace, "second") is None
    wait_warning(kube, namespace, "second", "AlreadyConsumed")


def test_expired_token_is_not_unwrapped(kube: Kube, operator: OperatorProcess, namespace: str,
                                        wrap_table: str) -> None:
    token = make_token(wrap_table, plaintext("expired-value"), ttl=-60)
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apply(wrapped_secret("late", "wrap", token), namespace)
    wait_ready(kube, namespace, "late", status="False", reason="Expired", kind="WrappedSecret")
    assert kube.secret_data(namespace, "late") is None
    assert tombstone(wrap_table, token) is None


def test_unknown_and_tampered_tokens(kube: Kube, operator: OperatorProcess, namespace: str, wrap_table: str) -> None:
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apply(wrapped_secret("unknown", "wrap", "A" * 171), namespace)
    wait_ready(kube, namespace, "unknown", status="False", reason="NotFound", kind="WrappedSecret")

    token = make_token(wrap_table, plaintext("tampered-wrapped-value"))
    stored = item(wrap_table, token)
    assert stored is not None
    value = bytearray(stored["value"]["B"])  # type: ignore[index]
    value[-5] ^= 1
    stored["value"] = {"B": bytes(value)}
    boto3.client("dynamodb").put_item(TableName=wrap_table, Item=stored)
    kube.apply(wrapped_secret("tampered", "wrap", token), namespace)
    wait_ready(kube, namespace, "tampered", status="False", reason="IntegrityError", kind="WrappedSecret")
    assert kube.secret_data(namespace, "tampered") is None


def test_done_for_good_edits_and_restarts_never_unwrap_again_and_a_lost_secret_is_reported(
        kube: Kube, operator: OperatorProcess, namespace: str, wrap_table: str) -> None:
    token = make_token(wrap_table, plaintext("forever-value"))
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apply(wrapped_secret("once", "wrap", token), namespace)
    wait_ready(kube, namespace, "once", kind="WrappedSecret")
    consumed = operator.metric("stashsync_wrap_tokens_consumed_total")
    kube.apply(wrapped_secret("once", "wrap", token, target={"labels": {"edited": "yes"}}), namespace)
    operator.stop()
    operator.start()
    time.sleep(3)
    once = kube.read(API_VERSION, "WrappedSecret", "once", namespace)
    assert once["status"]["conditions"][0]["reason"] == "Unwrapped"
    assert consumed >= 1
    assert operator.metric("stashsync_wrap_tokens_consumed_total") == 0  # the restarted process unwrapped nothing
    kube.core.delete_namespaced_secret("once", namespace)
    wait_ready(kube, namespace, "once", status="False", reason="SecretLost", kind="WrappedSecret")
    wait_warning(kube, namespace, "once", "SecretLost")
    assert kube.secret_data(namespace, "once") is None


@pytest.mark.parametrize("crash_at", ["claimed", "written", "consumed"])
def test_operator_killed_at_each_step_recovers_the_value_exactly_once(
        kube: Kube, operator: OperatorProcess, namespace: str, wrap_table: str, crash_at: str) -> None:
    token = make_token(wrap_table, plaintext(f"crash-{crash_at}-value"))
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    with crashing_at(operator, crash_at) as crasher:
        kube.apply(wrapped_secret("w", "wrap", token), namespace)
        wait_crashed(crasher, f"operator to die at {crash_at}")
        # The state each crash point leaves behind, before anything recovers it:
        uid = kube.read(API_VERSION, "WrappedSecret", "w", namespace)["metadata"]["uid"]
        claimed = item(wrap_table, token)
        assert (claimed is not None) is (crash_at != "consumed")
        if claimed is not None:
            assert claimed["stashsync_claimed_by"]["S"] == uid
        assert (kube.secret_data(namespace, "w") is not None) is (crash_at != "claimed")
        assert (tombstone(wrap_table, token) is not None) is (crash_at == "consumed")
        assert not (kube.read(API_VERSION, "WrappedSecret", "w", namespace).get("status") or {}).get("consumedAt")
    wait_ready(kube, namespace, "w", kind="WrappedSecret", reason="Unwrapped")
    assert kube.secret_data(namespace, "w") == {"value": f"crash-{crash_at}-value"}
    assert item(wrap_table, token) is None
    assert tombstone(wrap_table, token)["consumed_by"]["S"] == kube.get(  # type: ignore[index]
        API_VERSION, "WrappedSecret", "w", namespace)["metadata"]["uid"]
    kube.apply(wrapped_secret("w2", "wrap", token), namespace)
    wait_ready(kube, namespace, "w2", status="False", reason="AlreadyConsumed", kind="WrappedSecret")
    wait_for(lambda: kube.secret_data(namespace, "w") == {"value": f"crash-{crash_at}-value"}, 5, "value kept")
