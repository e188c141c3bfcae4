"""The AWS event shapes a change feed delivers, turned into the names that changed. Pure functions:
a message is bytes from a queue, never trusted (a foreign or malformed one raises ForeignEvent).

Shapes read (as AWS documents them):
- EventBridge, Secrets Manager via CloudTrail: source aws.secretsmanager, detail.eventName one of
  PutSecretValue, UpdateSecret, UpdateSecretVersionStage, RotateSecret, RestoreSecret (the id in
  detail.requestParameters.secretId), or the service event RotationSucceeded (the id in
  detail.additionalEventData.SecretId).
- EventBridge, Parameter Store: detail-type "Parameter Store Change", detail.name.
- EventBridge, S3: detail-type "Object Created", detail.bucket.name and detail.object.key.
- S3 event notifications sent to SQS directly: Records[].s3.bucket.name / s3.object.key.
- Any of these wrapped by SNS (Type Notification, Message the JSON above).
- DynamoDB Streams records: dynamodb.Keys.name.S (a credstash table's partition key).
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from typing import Any

SECRETS_MANAGER_CHANGES = frozenset({"PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage", "RotateSecret",
                                     "RestoreSecret", "RotationSucceeded"})
# A Secrets Manager ARN ends in the secret's name and a hyphen with six random characters.
SECRET_ARN = re.compile(r"^arn:aws[\w-]*:secretsmanager:[^:]*:[^:]*:secret:(?P<name>.+)-[A-Za-z0-9]{6}$")


class ForeignEvent(ValueError):
    """Not an event a feed understands (malformed, or from another source): counted and dropped."""


@dataclass(frozen=True)
class Change:
    service: str  # secretsmanager, ssm, s3 or dynamodb
    name: str  # as the service names it: secret id or name, full parameter name, "bucket/key", item name
    at: float | None = None  # epoch seconds the change happened, when the event says

    @property
    def key(self) -> str:
        """The name to match a source's feed_name with (a Secrets Manager ARN becomes its name)."""
        return secret_name(self.name) if self.service == "secretsmanager" else self.name


def secret_name(secret_id: str) -> str:
    """The name in a Secrets Manager secret id (a name, or an ARN ending in name-XXXXXX)."""
    found = SECRET_ARN.match(secret_id)
    return found.group("name") if found else secret_id


def _epoch(stamp: Any) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ForeignEvent(f"{what} is missing")
    return value


def from_message(body: str) -> list[Change]:
    """The changes one queue message announces."""
    try:
        event = json.loads(body)
    except ValueError:
        raise ForeignEvent("not JSON") from None
    if not isinstance(event, dict):
        raise ForeignEvent("not a JSON object")
    if event.get("Type") == "Notification" and isinstance(event.get("Message"), str):  # via SNS
        return from_message(event["Message"])
    if isinstance(event.get("Records"), list):  # S3 event notification, straight to SQS
        return [_s3_record(r) for r in event["Records"] if isinstance(r, dict)
                and str(r.get("eventName", "")).startswith("ObjectCreated")]
    if event.get("Event") == "s3:TestEvent":
        return []
    return _eventbridge(event)


def _s3_record(record: dict[str, Any]) -> Change:
    s3 = record.get("s3") or {}
    bucket = _text((s3.get("bucket") or {}).get("name"), "s3.bucket.name")
    key = _text((s3.get("object") or {}).get("key"), "s3.object.key")
    return Change("s3", f"{bucket}/{_unquote(key)}", _epoch(record.get("eventTime")))


def _unquote(key: str) -> str:
    """S3 notifications URL-encode object keys (a space is '+')."""
    from urllib.parse import unquote_plus

    return unquote_plus(key)


def _eventbridge(event: dict[str, Any]) -> list[Change]:
    source, kind = event.get("source"), event.get("detail-type")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise ForeignEvent("no detail")
    at = _epoch(event.get("time"))
    if source == "aws.secretsmanager":
        name = detail.get("eventName")
        if name not in SECRETS_MANAGER_CHANGES:
            return []  # e.g. GetSecretValue or DescribeSecret: nothing changed
        secret_id = ((detail.get("requestParameters") or {}).get("secretId")
                     or (detail.get("additionalEventData") or {}).get("SecretId"))
        return [Change("secretsmanager", _text(secret_id, "the secret id"), at)]
    if source == "aws.ssm" and kind == "Parameter Store Change":
        return [Change("ssm", _text(detail.get("name"), "detail.name"), at)]
    if source == "aws.s3" and kind == "Object Created":
        bucket = _text((detail.get("bucket") or {}).get("name"), "detail.bucket.name")
        key = _text((detail.get("object") or {}).get("key"), "detail.object.key")
        return [Change("s3", f"{bucket}/{key}", at)]
    raise ForeignEvent("an event from a source no feed reads")  # never its fields: anyone may send them


def from_stream_record(record: dict[str, Any]) -> Change:
    """A DynamoDB Streams record of a credstash table: the credential's name (its partition key)."""
    data = record.get("dynamodb") or {}
    name = ((data.get("Keys") or {}).get("name") or {}).get("S")
    created = data.get("ApproximateCreationDateTime")
    at = created.timestamp() if isinstance(created, datetime.datetime) else (
        float(created) if isinstance(created, (int, float)) else None)
    return Change("dynamodb", _text(name, "Keys.name"), at)
