"""The AWS emulator the tests run on keeps DynamoDB's atomicity: a failed transaction never undoes a
write another client made meanwhile (moto alone does; see tests/harness/moto_atomic.py). The
wrap-token tests rely on it: a vanished claim would read as a token consumed by someone else."""

from __future__ import annotations

import contextlib
import threading
import uuid

import boto3
import pytest

pytestmark = pytest.mark.integration

WRITES = 300


def test_failed_transactions_never_undo_concurrent_writes(aws_env: dict[str, str]) -> None:
    table = f"atomic-{uuid.uuid4().hex[:8]}"
    ddb = boto3.client("dynamodb")
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")

    def write() -> None:
        own = boto3.client("dynamodb")
        for i in range(WRITES):
            own.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}})

    def fail() -> None:  # each one a rolled-back transaction, as a consume retried after a crash is
        own = boto3.client("dynamodb")
        for _ in range(WRITES):
            with contextlib.suppress(own.exceptions.TransactionCanceledException):
                own.transact_write_items(TransactItems=[{"Delete": {"TableName": table, "Key": {"pk": {"S": "absent"}},
                                                                    "ConditionExpression": "attribute_exists(pk)"}}])

    threads = [threading.Thread(target=write), *(threading.Thread(target=fail) for _ in range(3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = sum(page["Count"] for page in ddb.get_paginator("scan").paginate(TableName=table, Select="COUNT"))
    assert kept == WRITES
