"""The wrap service: our Lambda handler run in-process against moto, and the CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from stashsync import lambda_handler
from tests.harness.leaks import plaintext

pytestmark = pytest.mark.integration
STASHSYNC = str(Path(sys.executable).parent / "stashsync")


@pytest.fixture
def service_env(monkeypatch: pytest.MonkeyPatch, wrap_table: str) -> str:
    monkeypatch.setenv("TABLE", wrap_table)
    monkeypatch.setenv("KMS_KEY", "alias/wrap-service")
    return wrap_table


def _client_payload(value: bytes, ttl: int = 900) -> dict[str, object]:
    from stashsync.aws.clients import AwsAuth, AwsClients
    from stashsync.sources.wrap import seal_client_layer

    client_value, data_key = seal_client_layer(AwsClients(AwsAuth(region="us-east-1")), value, "alias/wrap-client")
    return {"value": client_value, "data_key": data_key, "client_kms_key": "alias/wrap-client",
            "ttl": int(time.time()) + ttl}


def test_handler_wraps_and_unwraps_once_like_awswrap(service_env: str) -> None:
    token = lambda_handler.handler(_client_payload(plaintext("handler-once").encode()))
    assert isinstance(token, str) and len(token) == 171
    item = boto3.client("dynamodb").get_item(TableName=service_env, Key={
        "pk": {"S": "WRAPPED_SECRET"}, "sk": {"S": token}})["Item"]
    assert set(item) >= {"token", "created_at", "ttl", "value", "data_key", "kms_key", "lambda_kms_key",
                         "lambda_data_key"}
    assert "B" in item["value"] and "B" in item["lambda_data_key"] and "N" in item["ttl"]
    first = lambda_handler.handler({"token": token})
    assert set(first) >= {"value", "kms_key", "data_key", "created_at"}
    assert lambda_handler.handler({"token": token})["error"] == "NotFound"


def test_handler_claim_consume_is_single_use_and_remembers_the_consumer(service_env: str) -> None:
    token = lambda_handler.handler(_client_payload(b"claim-me"))
    claimed = lambda_handler.handler({"action": "claim", "token": token, "consumer": "uid-a"})
    assert "value" in claimed
    assert lambda_handler.handler({"action": "claim", "token": token, "consumer": "uid-b"})["error"] == \
        "AlreadyConsumed"
    assert lambda_handler.handler({"action": "claim", "token": token, "consumer": "uid-a"})["value"] == \
        claimed["value"]  # the same consumer may claim again after a crash
    assert lambda_handler.handler({"action": "consume", "token": token, "consumer": "uid-a", "ttl": 0}) == \
        {"consumed": True}
    assert lambda_handler.handler({"action": "claim", "token": token, "consumer": "uid-a"}) == {"consumed": True}
    assert lambda_handler.handler({"action": "claim", "token": token, "consumer": "uid-b"})["error"] == \
        "AlreadyConsumed"


def test_handler_expired_tokens_are_pruned_and_errors_are_payloads(service_env: str) -> None:
    token = lambda_handler.handler(_client_payload(b"late", ttl=-5))
    assert lambda_handler.handler({"action": "claim", "token": token, "consumer": "u"})["error"] == "NotFound"
    assert lambda_handler.handler({"action": "frobnicate", "token": "x"})["error"] == "BadRequest"
    assert lambda_handler.handler({"action": "claim"})["error"] == "BadRequest"


def test_cli_wrap_then_unwrap_once(aws_env: dict[str, str], wrap_table: str) -> None:
    env = {**aws_env, "PATH": "/usr/bin:/bin"}
    value = plaintext('{"user": "cli-user", "password": "cli-wrapped-pass"}')
    wrapped = subprocess.run([STASHSYNC, "wrap", "--table", wrap_table, "--service-kms-key", "alias/wrap-service",
                              "--ttl", "60"], input=value.encode(), capture_output=True, env=env, check=True)
    token = wrapped.stdout.decode().strip()
    assert len(token) == 171
    out = subprocess.run([STASHSYNC, "unwrap", "--table", wrap_table, token], capture_output=True, env=env,
                         check=True).stdout.decode()
    assert '"password": "cli-wrapped-pass"' in out
    again = subprocess.run([STASHSYNC, "unwrap", "--table", wrap_table, token], capture_output=True, env=env)
    assert again.returncode == 1
    assert again.stderr.decode().count("\n") == 1 and "no wrapped secret" in again.stderr.decode()


def test_cli_wraps_the_value_of_a_secrets_manager_secret(aws_env: dict[str, str], wrap_table: str) -> None:
    env = {**aws_env, "PATH": "/usr/bin:/bin"}
    boto3.client("secretsmanager").create_secret(Name="prod/db/password", SecretString=plaintext("from-sm-value"))
    token = subprocess.run([STASHSYNC, "wrap", "--table", wrap_table, "--service-kms-key", "alias/wrap-service",
                            "-s", "prod/db/password"], capture_output=True, env=env, check=True).stdout.decode().strip()
    out = subprocess.run([STASHSYNC, "unwrap", "--table", wrap_table, "--", token], capture_output=True, env=env,
                         check=True).stdout.decode()
    assert out.strip() == "from-sm-value"


def test_setup_wrap_makes_a_table_wrap_and_unwrap_work_on(aws_env: dict[str, str], wrap_keys: tuple[str, str]) -> None:
    """A newcomer's path: no schema copied from anywhere, `stashsync setup --wrap` makes the table."""
    env = {**aws_env, "PATH": "/usr/bin:/bin"}
    table = f"wrap-setup-{time.time_ns()}"
    made = subprocess.run([STASHSYNC, "setup", "--wrap", "-t", table], capture_output=True, env=env, check=True)
    assert made.stdout.decode().strip() == f"table {table} created"
    again = subprocess.run([STASHSYNC, "setup", "--wrap", "-t", table], capture_output=True, env=env, check=True)
    assert again.stdout.decode().strip() == f"table {table} already exists"
    ddb = boto3.client("dynamodb")
    keys = {k["AttributeName"]: k["KeyType"] for k in ddb.describe_table(TableName=table)["Table"]["KeySchema"]}
    assert keys == {"pk": "HASH", "sk": "RANGE"}
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "ttl"
    wrapped = subprocess.run([STASHSYNC, "wrap", "--table", table, "--service-kms-key", "alias/wrap-service"],
                             input=plaintext("setup-wrap-value").encode(), capture_output=True, env=env, check=True)
    out = subprocess.run([STASHSYNC, "unwrap", "--table", table, wrapped.stdout.decode().strip()],
                         capture_output=True, env=env, check=True)
    assert out.stdout.decode().strip() == "setup-wrap-value"
