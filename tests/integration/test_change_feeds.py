"""Change feeds on moto: a credstash table's DynamoDB stream and an SQS queue carrying EventBridge
events bring a new version to the Secret in seconds with a refreshInterval of 1 h; a feed that cannot
be read is reported on the store and polling takes over; a restart of the operator loses nothing."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest

from stashsync.api import API_VERSION
from stashsync.cli.main import main as cli
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready, wait_warning
from tests.objects import TENANT_AUTH, credstash_store, synced_secret

pytestmark = pytest.mark.integration


def feed_condition(kube: Kube, namespace: str, store: str) -> dict[str, Any] | None:
    body = kube.get(API_VERSION, "CredentialStore", store, namespace) or {}
    return next((c for c in (body.get("status") or {}).get("conditions") or [] if c["type"] == "FeedReady"), None)


def wait_feed(kube: Kube, namespace: str, store: str, status: str = "True") -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (c := feed_condition(kube, namespace, store)) and c["status"] == status and c, 60,
        f"store {store} FeedReady={status}")
    return found


def value(kube: Kube, namespace: str) -> str | None:
    return (kube.secret_data(namespace, "app") or {}).get("k")


def test_a_dynamodb_stream_brings_a_new_credstash_version_despite_an_hour_long_interval(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    assert cli(["setup", "-t", table, "--stream"]) == 0
    assert cli(["put", "-t", table, "feed.pass", plaintext("stream-v1")]) == 0
    store = credstash_store("main", table)
    store["spec"]["changeFeed"] = {"dynamodbStream": {}}
    kube.apply(store, namespace)
    kube.apply(synced_secret("app", "main", [{"key": "k", "name": "feed.pass"}], refreshInterval="1h"), namespace)
    wait_ready(kube, namespace, "app")
    wait_feed(kube, namespace, "main")
    received = operator.metric("stashsync_feed_events_received_total", feed="dynamodbStream")

    assert cli(["put", "-a", "-t", table, "feed.pass", plaintext("stream-v2")]) == 0
    wait_for(lambda: value(kube, namespace) == "stream-v2", 20, "the new version, brought by the stream")
    assert operator.metric("stashsync_feed_events_received_total", feed="dynamodbStream") > received
    assert operator.metric("stashsync_feed_events_matched_total", feed="dynamodbStream") >= 1


def eventbridge_put_secret_value(secret_arn: str) -> str:
    """The event EventBridge delivers for a PutSecretValue recorded by CloudTrail (moto emits none)."""
    return json.dumps({
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.secretsmanager", "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": "us-east-1", "resources": [],
        "detail": {"eventVersion": "1.08", "eventSource": "secretsmanager.amazonaws.com",
                   "eventName": "PutSecretValue", "awsRegion": "us-east-1",
                   "requestParameters": {"secretId": secret_arn, "clientRequestToken": str(uuid.uuid4())},
                   "responseElements": None}})


def test_an_sqs_queue_of_eventbridge_events_brings_a_new_secrets_manager_version(
        kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    sm, sqs = boto3.client("secretsmanager"), boto3.client("sqs")
    name = f"feed/{uuid.uuid4().hex[:8]}"
    arn = sm.create_secret(Name=name, SecretString=plaintext("queue-v1"))["ARN"]
    queue = sqs.create_queue(QueueName=f"{namespace}-feed-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    kube.apply({"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": "sm"},
                "spec": {"secretsManager": {"region": "us-east-1"}, "auth": TENANT_AUTH,
                         "changeFeed": {"sqs": {"queueUrl": queue}}}}, namespace)
    kube.apply({**synced_secret("app", "sm", [{"key": "k", "name": name}], refreshInterval="1h")}, namespace)
    wait_ready(kube, namespace, "app")
    wait_feed(kube, namespace, "sm")
    foreign = operator.metric("stashsync_feed_errors_total", feed="sqs", reason="ForeignEvent")

    sqs.send_message(QueueUrl=queue, MessageBody='{"source": "aws.ec2", "detail": {}}')  # dropped, counted
    sm.put_secret_value(SecretId=name, SecretString=plaintext("queue-v2"))
    sqs.send_message(QueueUrl=queue, MessageBody=eventbridge_put_secret_value(arn))
    wait_for(lambda: value(kube, namespace) == "queue-v2", 40, "the new version, brought by the queue")
    wait_for(lambda: operator.metric("stashsync_feed_errors_total", feed="sqs", reason="ForeignEvent") > foreign,
             30, "the foreign message counted")

    def queue_empty() -> bool:
        attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return bool(attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"]
                    == "0")

    wait_for(queue_empty, 30, "both messages deleted once handled")


def test_a_parameter_store_change_event_wakes_the_reader_of_that_parameter_only(
        kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    ssm, sqs = boto3.client("ssm"), boto3.client("sqs")
    path = f"/feed-{uuid.uuid4().hex[:8]}"
    for name in ("db", "other"):
        ssm.put_parameter(Name=f"{path}/{name}", Value=plaintext(f"ssm-{name}-v1"), Type="SecureString")
    queue = sqs.create_queue(QueueName=f"{namespace}-ssm-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    kube.apply({"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": "ssm"},
                "spec": {"parameterStore": {"region": "us-east-1", "path": path}, "auth": TENANT_AUTH,
                         "changeFeed": {"sqs": {"queueUrl": queue}}}}, namespace)
    kube.apply(synced_secret("app", "ssm", [{"key": "k", "name": "db"}], refreshInterval="1h"), namespace)
    kube.apply(synced_secret("bystander", "ssm", [{"key": "k", "name": "other"}], refreshInterval="1h"), namespace)
    wait_ready(kube, namespace, "app")
    wait_ready(kube, namespace, "bystander")
    wait_feed(kube, namespace, "ssm")
    bystander_synced = kube.read(API_VERSION, "SyncedSecret", "bystander", namespace)["status"]["lastSyncTime"]

    ssm.put_parameter(Name=f"{path}/db", Value=plaintext("ssm-db-v2"), Type="SecureString", Overwrite=True)
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Parameter Store Change", "source": "aws.ssm",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": "us-east-1", "resources": [],
        "detail": {"operation": "Update", "name": f"{path}/db", "type": "SecureString"}}))
    wait_for(lambda: value(kube, namespace) == "ssm-db-v2", 40, "the changed parameter synced")
    # The other parameter's reader was not woken (its last sync is the one before the event).
    assert kube.read(API_VERSION, "SyncedSecret", "bystander", namespace)["status"]["lastSyncTime"] == bystander_synced


def test_a_feed_that_cannot_be_read_is_reported_and_polling_takes_over(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    assert cli(["put", "-t", table, "poll.pass", plaintext("broken-feed-v1")]) == 0
    store = credstash_store("main", table)  # the table has no stream
    store["spec"]["changeFeed"] = {"dynamodbStream": {}, "backstopInterval": "1h"}
    kube.apply(store, namespace)
    kube.apply(synced_secret("app", "main", [{"key": "k", "name": "poll.pass"}], refreshInterval="1s"), namespace)
    condition = wait_feed(kube, namespace, "main", status="False")
    assert condition["reason"] == "FeedBroken" and "no DynamoDB stream" in condition["message"]
    wait_warning(kube, namespace, "main", "FeedBroken")
    ready = next(c for c in kube.read(API_VERSION, "CredentialStore", "main", namespace)["status"]["conditions"]
                 if c["type"] == "Ready")
    assert ready["status"] == "True"  # the store itself works: only the feed does not
    wait_ready(kube, namespace, "app")
    assert cli(["put", "-a", "-t", table, "poll.pass", plaintext("broken-feed-v2")]) == 0
    wait_for(lambda: value(kube, namespace) == "broken-feed-v2", 20, "polled at its own 1 s, not the 1 h backstop")


def test_a_change_made_while_the_operator_was_down_arrives_when_it_starts(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    assert cli(["setup", "-t", table, "--stream"]) == 0
    assert cli(["put", "-t", table, "down.pass", plaintext("while-down-v1")]) == 0
    store = credstash_store("main", table)
    store["spec"]["changeFeed"] = {"dynamodbStream": {}, "backstopInterval": "24h"}
    kube.apply(store, namespace)
    kube.apply(synced_secret("app", "main", [{"key": "k", "name": "down.pass"}], refreshInterval="1h"), namespace)
    wait_ready(kube, namespace, "app")
    wait_feed(kube, namespace, "main")
    operator.stop()
    try:
        assert cli(["put", "-a", "-t", table, "down.pass", plaintext("while-down-v2")]) == 0
    finally:
        operator.start()
    wait_for(lambda: value(kube, namespace) == "while-down-v2", 60, "the change made while the operator was down")
