"""The AWS event shapes change feeds carry, as AWS documents them, turned into what changed."""

from __future__ import annotations

import datetime
import json

import pytest

from stashsync.feeds.events import ForeignEvent, from_message, from_stream_record, secret_name

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password-AbC123"


def eventbridge(source: str, detail_type: str, detail: dict[str, object]) -> str:
    return json.dumps({"version": "0", "id": "e1", "detail-type": detail_type, "source": source,
                       "account": "123456789012", "time": "2026-11-24T10:00:00Z", "region": "us-east-1",
                       "resources": [], "detail": detail})


def test_secrets_manager_api_calls_via_cloudtrail_name_the_secret() -> None:
    put = eventbridge("aws.secretsmanager", "AWS API Call via CloudTrail",
                      {"eventSource": "secretsmanager.amazonaws.com", "eventName": "PutSecretValue",
                       "requestParameters": {"secretId": ARN, "clientRequestToken": "t"}})
    [change] = from_message(put)
    assert (change.service, change.name, change.key) == ("secretsmanager", ARN, "prod/db-password")
    assert change.at == datetime.datetime(2026, 11, 24, 10, tzinfo=datetime.UTC).timestamp()
    rotated = eventbridge("aws.secretsmanager", "AWS Service Event via CloudTrail",
                          {"eventName": "RotationSucceeded", "additionalEventData": {"SecretId": ARN}})
    assert [c.key for c in from_message(rotated)] == ["prod/db-password"]
    read = eventbridge("aws.secretsmanager", "AWS API Call via CloudTrail",
                       {"eventName": "GetSecretValue", "requestParameters": {"secretId": "x"}})
    assert from_message(read) == []  # a read changes nothing


def test_parameter_store_and_s3_events() -> None:
    [param] = from_message(eventbridge("aws.ssm", "Parameter Store Change",
                                       {"operation": "Update", "name": "/app/db/password", "type": "SecureString"}))
    assert (param.service, param.key) == ("ssm", "/app/db/password")
    [created] = from_message(eventbridge("aws.s3", "Object Created",
                                         {"bucket": {"name": "creds"}, "object": {"key": "app/db", "size": 3}}))
    assert created.key == "creds/app/db"
    notification = json.dumps({"Records": [
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "eventTime": "2026-11-24T10:00:00.000Z",
         "s3": {"bucket": {"name": "creds"}, "object": {"key": "app/my+key"}}},
        {"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
         "s3": {"bucket": {"name": "creds"}, "object": {"key": "app/gone"}}}]})
    assert [c.key for c in from_message(notification)] == ["creds/app/my key"]  # removals change no value
    assert from_message(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []


def test_an_event_sent_through_sns_is_unwrapped() -> None:
    inner = eventbridge("aws.ssm", "Parameter Store Change", {"name": "/a", "operation": "Create"})
    assert [c.key for c in from_message(json.dumps({"Type": "Notification", "Message": inner}))] == ["/a"]


@pytest.mark.parametrize("body", ["not json", "[1, 2]", json.dumps({"source": "aws.ec2", "detail": {}}),
                                  eventbridge("aws.ssm", "Parameter Store Change", {"operation": "Update"}),
                                  json.dumps({"source": "aws.s3", "detail-type": "Object Created"})])
def test_foreign_or_malformed_messages_are_refused_with_a_reason_only(body: str) -> None:
    with pytest.raises(ForeignEvent) as refused:
        from_message(body)
    assert body not in str(refused.value)  # the reason only: a message body may hold anything


def test_stream_records_name_the_credential() -> None:
    created = datetime.datetime(2026, 11, 24, 10, tzinfo=datetime.UTC)
    change = from_stream_record({"eventName": "INSERT", "dynamodb": {
        "Keys": {"name": {"S": "db.password"}, "version": {"S": "0000000000000000002"}},
        "ApproximateCreationDateTime": created, "SequenceNumber": "1"}})
    assert (change.service, change.key, change.at) == ("dynamodb", "db.password", created.timestamp())
    with pytest.raises(ForeignEvent):
        from_stream_record({"dynamodb": {"Keys": {"pk": {"S": "x"}}}})


def test_secret_names_from_arns() -> None:
    assert secret_name(ARN) == "prod/db-password"
    assert secret_name("prod/db-password") == "prod/db-password"
    assert secret_name("name-with-dash-AbC") == "name-with-dash-AbC"  # not an ARN: as given
