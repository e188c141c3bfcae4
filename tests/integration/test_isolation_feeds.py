"""Change feeds across tenants: a namespaced store reads only the queues the admin allows it (reading
consumes another team's events), a change wakes only the dataFrom objects whose pattern may list it,
and nothing a message carries is echoed into the log. Real apiserver, moto, the operator under kopf."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest

from stashsync.api import API_VERSION
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready, wait_warning
from tests.integration.test_change_feeds import eventbridge_put_secret_value, wait_feed
from tests.objects import TENANT_AUTH, synced_secret

pytestmark = pytest.mark.integration


def _sm_store(name: str, queue: str) -> dict[str, object]:
    return {"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": name},
            "spec": {"secretsManager": {"region": "us-east-1"}, "auth": TENANT_AUTH,
                     "changeFeed": {"sqs": {"queueUrl": queue}}}}


def _waiting(queue: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attributes["Attributes"].values())


def test_a_store_never_reads_a_queue_the_admin_did_not_allow_for_its_namespace(
        kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    sqs = boto3.client("sqs")
    theirs = sqs.create_queue(QueueName=f"other-team-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(QueueUrl=theirs, MessageBody=json.dumps({"their": "change event"}))
    kube.apply(_sm_store("drain", theirs), namespace)
    condition = wait_feed(kube, namespace, "drain", status="False")
    assert condition["reason"] == "FeedNotAllowed" and "tenancy.feedQueues" in condition["message"]
    wait_warning(kube, namespace, "drain", "FeedNotAllowed")
    wait_ready(kube, namespace, "drain", kind="CredentialStore")  # the store itself works: its objects poll
    time.sleep(3)
    assert _waiting(theirs) == 1  # their event is still theirs


def test_a_change_wakes_only_the_dataFrom_objects_whose_pattern_may_list_it_and_no_message_is_echoed(
        kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    sm, sqs = boto3.client("secretsmanager"), boto3.client("sqs")
    tag = uuid.uuid4().hex[:8]
    arns = {name: sm.create_secret(Name=f"{name}-{tag}/k", SecretString=plaintext(f"feed-{name}-v1"))["ARN"]
            for name in ("app", "other")}
    queue = sqs.create_queue(QueueName=f"{namespace}-{tag}")["QueueUrl"]
    kube.apply(_sm_store("sm", queue), namespace)
    for name in ("app", "other"):
        kube.apply(synced_secret(name, "sm", [], dataFrom=[{"find": f"{name}-{tag}/*"}], refreshInterval="1h"),
                   namespace)
        wait_ready(kube, namespace, name)
    wait_feed(kube, namespace, "sm")
    time.sleep(1.5)  # lastSyncTime has a resolution of one second
    bystander = kube.read(API_VERSION, "SyncedSecret", "other", namespace)["status"]["lastSyncTime"]

    injected = f"INJECTED-{uuid.uuid4().hex[:8]}"
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"source": injected, "detail-type": injected,
                                                             "detail": {}}))
    sm.put_secret_value(SecretId=arns["app"], SecretString=plaintext("feed-app-v2"))
    sqs.send_message(QueueUrl=queue, MessageBody=eventbridge_put_secret_value(arns["app"]))
    key = f"app-{tag}_k"
    wait_for(lambda: (kube.secret_data(namespace, "app") or {}).get(key) == "feed-app-v2", 40,
             "the change brought to the object whose pattern lists it")
    wait_for(lambda: _waiting(queue) == 0, 30, "both messages handled")
    assert kube.read(API_VERSION, "SyncedSecret", "other", namespace)["status"]["lastSyncTime"] == bystander
    assert injected not in operator.log.read_text(errors="replace")
