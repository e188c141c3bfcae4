"""The wrap table (aws-secrets-wrapper 0.1.3 layout) and its service side, done directly against
DynamoDB + KMS ("direct" mode), or through the service Lambda ("lambda" mode, same operations).

Consumption is crash-safe: claim (conditional update naming the consumer) -> decrypt -> the caller
writes the Secret -> consume (one transaction: delete the item, record a tombstone keyed by the
token's SHA-256). A crash at any step leaves the value recoverable by the same consumer, and a
tombstone lets any later consumer tell "already consumed" from "never existed"."""

from __future__ import annotations

import base64
import datetime
import json
import time
from typing import Any, Protocol

from stashsync import errors
from stashsync.aws.clients import AwsClients, translate_errors
from stashsync.crypto import wrap as fmt
from stashsync.errors import StashError
from stashsync.sources.dynamo import DynamoTable, plain

DEFAULT_TABLE = "secrets-wrap"  # the name `stashsync setup --wrap` gives, as the README's examples use

TOMBSTONE_PK = "STASHSYNC_CONSUMED_TOKEN"  # awswrap's pruning only looks at pk WRAPPED_SECRET
CLAIM = "stashsync_claimed_by"
CLAIMED_AT = "stashsync_claimed_at"
CONDITIONAL = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
# A claim is honoured past the token's TTL (its holder may be retrying a write); one still there this
# long after both the TTL and the claim is an orphan (its WrappedSecret went away) and is pruned.
ORPHAN_CLAIM_SECONDS = 7 * 86400
# Cancellation reasons of a transaction that say "not now" rather than "not allowed".
_SETTLED_CANCELLATIONS = frozenset({"None", "ConditionalCheckFailed"})
EXPIRED_MESSAGE = "the wrap token expired before it was unwrapped; ask for a new one"


def transient_cancellation(error_response: dict[str, Any]) -> str | None:
    """The code that made a TransactWriteItems cancellation transient (a conflicting transaction,
    throttling), or None when it failed on its conditions and retrying cannot help."""
    reasons = error_response.get("CancellationReasons") or error_response.get("Error", {}).get(
        "CancellationReasons") or []
    for reason in reasons:
        code = str((reason or {}).get("Code") or "None")
        if code not in _SETTLED_CANCELLATIONS:
            return code
    return None


def _expired(item: dict[str, Any], now: int) -> bool:
    return int(item.get("ttl", "0")) <= now


class AlreadyConsumed(errors.SourceError):
    reason = "AlreadyConsumed"


class Expired(errors.SourceError):
    reason = "Expired"


class TokenNotFound(errors.SourceError):
    reason = "NotFound"


class WrapService(Protocol):
    def validate(self) -> None: ...
    def wrap(self, client_value: str, client_data_key: str, client_kms_key: str, ttl: int) -> str: ...
    def claim(self, token: str, consumer: str) -> dict[str, Any]: ...
    def consume(self, token: str, consumer: str, ttl: int) -> None: ...
    def release(self, token: str, consumer: str) -> None: ...
    def unwrap_and_delete(self, token: str) -> dict[str, Any]: ...


class DirectWrapService(DynamoTable):
    """The service side against DynamoDB + KMS. Also what our Lambda handler runs."""

    kind = "wrap table"

    def __init__(self, clients: AwsClients, table: str, service_kms_key: str | None) -> None:
        super().__init__(clients, table)
        self.service_kms_key = service_kms_key

    def create_table(self) -> bool:
        """Create the table as aws-secrets-wrapper lays it out (pk, sk; expired items deleted by
        DynamoDB's TTL on `ttl`). Returns True when it was created."""
        return self.create_if_missing("pk", "sk", ttl_attribute="ttl")

    def wrap(self, client_value: str, client_data_key: str, client_kms_key: str, ttl: int) -> str:
        """Store a client-encrypted value (awswrap's Wrapper.wrap); returns the token."""
        if not self.service_kms_key:
            raise errors.StoreNotReady("wrapping needs the service KMS key (kmsKeyId / KMS_KEY)")
        with translate_errors(f"KMS key {self.service_kms_key!r}"):
            dk = self._kms.generate_data_key(KeyId=self.service_kms_key, KeySpec="AES_256")
        token = fmt.new_token()
        item = {"pk": {"S": fmt.PK}, "sk": {"S": token}, "token": {"S": token},
                "created_at": {"S": datetime.datetime.now().isoformat()},  # naive, as awswrap writes
                "ttl": {"N": str(ttl)}, "value": {"B": fmt.service_seal(client_value, dk["Plaintext"])},
                "data_key": {"S": client_data_key}, "kms_key": {"S": client_kms_key},
                "lambda_kms_key": {"S": self.service_kms_key}, "lambda_data_key": {"B": dk["CiphertextBlob"]}}
        with translate_errors(f"wrap table {self.table!r}", not_found=errors.StoreNotReady):
            self._ddb.put_item(TableName=self.table, Item=item)
        return token

    def claim(self, token: str, consumer: str) -> dict[str, Any]:
        """Mark the item as being consumed by `consumer` and return it with the service layer removed:
        {"value": <client layer text>, "kms_key", "data_key", "created_at", "ttl"}; or {"consumed": True}
        when `consumer` already finished; raises AlreadyConsumed / TokenNotFound / Expired.

        The TTL is checked only on a first claim: a consumer that claimed in time and failed to write
        (a conflict, an API hiccup) keeps its right to finish after the TTL, or the value would be lost."""
        ddb, now = self._ddb, int(time.time())
        try:
            with translate_errors("wrap token", not_found=errors.StoreNotReady, passthrough=CONDITIONAL):
                old = plain(ddb.update_item(
                    TableName=self.table, Key={"pk": {"S": fmt.PK}, "sk": {"S": token}},
                    UpdateExpression="SET #c = :c, #ca = if_not_exists(#ca, :now)",
                    ConditionExpression="attribute_exists(sk) AND (attribute_not_exists(#c) OR #c = :c)",
                    ExpressionAttributeNames={"#c": CLAIM, "#ca": CLAIMED_AT},
                    ExpressionAttributeValues={":c": {"S": consumer}, ":now": {"N": str(now)}},
                    ReturnValues="ALL_OLD")["Attributes"])
        except ddb.exceptions.ConditionalCheckFailedException:
            return self._why_not_claimed(token, consumer)
        if old.get(CLAIM) != consumer and _expired(old, now):
            self._prune(token, consumer)
            raise Expired(EXPIRED_MESSAGE)
        return self._open_service_layer(old)

    def _prune(self, token: str, consumer: str | None = None) -> None:
        """Delete one expired item: DynamoDB's own TTL deletion is lazy (days), so an expired token
        would stay readable. Only while it is unclaimed (or claimed by `consumer`, who gives up)."""
        now = str(int(time.time()))
        names = {"#t": "ttl", "#c": CLAIM}
        values: dict[str, Any] = {":now": {"N": now}}
        condition = "#t <= :now AND attribute_not_exists(#c)"
        if consumer is not None:
            condition = "#t <= :now AND (attribute_not_exists(#c) OR #c = :c)"
            values[":c"] = {"S": consumer}
        try:
            with translate_errors("wrap token", not_found=errors.StoreNotReady, passthrough=CONDITIONAL):
                self._ddb.delete_item(TableName=self.table, Key={"pk": {"S": fmt.PK}, "sk": {"S": token}},
                                      ConditionExpression=condition, ExpressionAttributeNames=names,
                                      ExpressionAttributeValues=values)
        except self._ddb.exceptions.ConditionalCheckFailedException:
            pass  # claimed meanwhile, or gone: either way not ours to delete

    def _open_service_layer(self, item: dict[str, Any]) -> dict[str, Any]:
        with translate_errors("wrap token (service layer)"):
            service_key = self._kms.decrypt(CiphertextBlob=bytes(item["lambda_data_key"]))["Plaintext"]
        try:
            client_value = fmt.service_open(bytes(item["value"]), service_key)
        except fmt.WrapIntegrityError as exc:
            raise errors.IntegrityError(f"wrapped value failed its integrity check: {exc}") from None
        return {"value": client_value, "kms_key": item["kms_key"], "data_key": item["data_key"],
                "created_at": item.get("created_at", ""), "ttl": int(item.get("ttl", "0"))}

    def _why_not_claimed(self, token: str, consumer: str) -> dict[str, Any]:
        key = {"pk": {"S": fmt.PK}, "sk": {"S": token}}
        with translate_errors("wrap token", not_found=errors.StoreNotReady):
            item = self._ddb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
            if item is not None:
                if item.get(CLAIM, {}).get("S") == consumer:  # ours still: the write raced something
                    raise errors.Unavailable("the wrap table did not take the consumption just now")
                raise AlreadyConsumed("another WrappedSecret is unwrapping this token")
            tomb = self._ddb.get_item(TableName=self.table, ConsistentRead=True, Key={
                "pk": {"S": TOMBSTONE_PK}, "sk": {"S": fmt.token_sha256(token)}}).get("Item")
        if tomb is None:
            raise TokenNotFound("no wrapped secret for this token: never issued, expired and pruned, "
                                "or unwrapped by another tool")
        if tomb.get("consumed_by", {}).get("S") == consumer:
            return {"consumed": True}
        raise AlreadyConsumed("this token was already unwrapped by another WrappedSecret")

    def consume(self, token: str, consumer: str, ttl: int) -> None:
        """Delete the item and record the tombstone, atomically; only while `consumer` holds the claim."""
        ddb = self._ddb
        try:
            with translate_errors("wrap token", not_found=errors.StoreNotReady, passthrough=CONDITIONAL):
                ddb.transact_write_items(TransactItems=[
                    {"Delete": {"TableName": self.table, "Key": {"pk": {"S": fmt.PK}, "sk": {"S": token}},
                                "ConditionExpression": "#c = :c", "ExpressionAttributeNames": {"#c": CLAIM},
                                "ExpressionAttributeValues": {":c": {"S": consumer}}}},
                    {"Put": {"TableName": self.table, "Item": {
                        "pk": {"S": TOMBSTONE_PK}, "sk": {"S": fmt.token_sha256(token)},
                        "consumed_by": {"S": consumer}, "ttl": {"N": str(max(ttl, int(time.time())) + 86400)},
                        "consumed_at": {"S": datetime.datetime.now(datetime.UTC).isoformat()}}}}])
        except (ddb.exceptions.TransactionCanceledException, ddb.exceptions.ConditionalCheckFailedException) as exc:
            transient = transient_cancellation(exc.response)
            if transient is not None:  # a conflicting transaction or throttling: the claim still holds
                raise errors.Unavailable(f"the wrap table cancelled the consumption ({transient}); retrying") from None
            # Already consumed by us (a retry after a crash) is fine; anything else is not ours.
            if self._why_not_claimed(token, consumer).get("consumed"):
                return
            raise AlreadyConsumed("the claim on this token was lost") from None

    def release(self, token: str, consumer: str) -> None:
        """Give up a claim (the WrappedSecret went away before finishing)."""
        ddb = self._ddb
        try:
            with translate_errors("wrap token", not_found=errors.StoreNotReady, passthrough=CONDITIONAL):
                ddb.update_item(TableName=self.table, Key={"pk": {"S": fmt.PK}, "sk": {"S": token}},
                                UpdateExpression="REMOVE #c", ConditionExpression="#c = :c",
                                ExpressionAttributeNames={"#c": CLAIM},
                                ExpressionAttributeValues={":c": {"S": consumer}})
        except ddb.exceptions.ConditionalCheckFailedException:
            pass  # not ours, or gone: nothing to release

    def unwrap_and_delete(self, token: str) -> dict[str, Any]:
        """awswrap's own unwrap (DeleteItem ReturnValues=ALL_OLD): single use, not crash-safe. For the
        CLI and the Lambda's awswrap-compatible action; the operator uses claim/consume. A token a
        WrappedSecret has claimed is not handed out a second time, nor one past its TTL."""
        ddb, now = self._ddb, int(time.time())
        key = {"pk": {"S": fmt.PK}, "sk": {"S": token}}
        try:
            with translate_errors("wrap token", not_found=errors.StoreNotReady, passthrough=CONDITIONAL):
                old = ddb.delete_item(
                    TableName=self.table, Key=key, ReturnValues="ALL_OLD",
                    ConditionExpression="attribute_exists(sk) AND attribute_not_exists(#c) AND #t > :now",
                    ExpressionAttributeNames={"#c": CLAIM, "#t": "ttl"},
                    ExpressionAttributeValues={":now": {"N": str(now)}}).get("Attributes")
        except ddb.exceptions.ConditionalCheckFailedException:
            with translate_errors("wrap token", not_found=errors.StoreNotReady):
                item = ddb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
            if item is None:
                raise TokenNotFound("no wrapped secret for this token") from None
            if CLAIM in item:
                raise AlreadyConsumed("a WrappedSecret is unwrapping this token") from None
            self._prune(token)
            raise Expired(EXPIRED_MESSAGE) from None
        return self._open_service_layer(plain(old or {}))

    def prune_expired(self) -> int:
        """Delete expired items (awswrap prunes on every call): unclaimed ones, and orphaned claims, those
        still there ORPHAN_CLAIM_SECONDS after both the TTL and the claim. A recent claim is mid-consumption."""
        ddb, pruned, now = self._ddb, 0, int(time.time())
        kwargs: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "#t <= :now AND (attribute_not_exists(#c) OR "
                                "(#t <= :orphan AND (attribute_not_exists(#ca) OR #ca <= :orphan)))",
            "ProjectionExpression": "pk, sk",
            "ExpressionAttributeNames": {"#t": "ttl", "#c": CLAIM, "#ca": CLAIMED_AT},
            "ExpressionAttributeValues": {":pk": {"S": fmt.PK}, ":now": {"N": str(now)},
                                          ":orphan": {"N": str(now - ORPHAN_CLAIM_SECONDS)}}}
        with translate_errors(f"wrap table {self.table!r}", not_found=errors.StoreNotReady):
            for page in ddb.get_paginator("query").paginate(**kwargs):
                for item in page.get("Items", []):
                    ddb.delete_item(TableName=self.table, Key={"pk": item["pk"], "sk": item["sk"]})
                    pruned += 1
        return pruned


class LambdaWrapService:
    """The same operations through the service Lambda (our handler: stashsync.lambda_handler)."""

    def __init__(self, clients: AwsClients, function_name: str) -> None:
        self.clients = clients
        self.function_name = function_name

    def validate(self) -> None:
        with translate_errors(f"Lambda {self.function_name!r}", not_found=errors.StoreNotReady):
            self.clients.client("lambda").get_function(FunctionName=self.function_name)

    def _invoke(self, payload: dict[str, Any]) -> Any:
        with translate_errors(f"Lambda {self.function_name!r}", not_found=errors.StoreNotReady):
            response = self.clients.client("lambda").invoke(
                FunctionName=self.function_name, InvocationType="RequestResponse", Payload=json.dumps(payload))
        result = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError") or (isinstance(result, dict) and result.get("error")):
            raise _error_from(result if isinstance(result, dict) else {})
        return result

    def wrap(self, client_value: str, client_data_key: str, client_kms_key: str, ttl: int) -> str:
        return str(self._invoke({"value": client_value, "data_key": client_data_key,
                                 "client_kms_key": client_kms_key, "ttl": ttl}))

    def claim(self, token: str, consumer: str) -> dict[str, Any]:
        result: dict[str, Any] = self._invoke({"action": "claim", "token": token, "consumer": consumer})
        return result

    def consume(self, token: str, consumer: str, ttl: int) -> None:
        self._invoke({"action": "consume", "token": token, "consumer": consumer, "ttl": ttl})

    def release(self, token: str, consumer: str) -> None:
        self._invoke({"action": "release", "token": token, "consumer": consumer})

    def unwrap_and_delete(self, token: str) -> dict[str, Any]:
        """awswrap's own unwrap action: deletes and returns the client layer."""
        result: dict[str, Any] = self._invoke({"token": token})
        return result


_ERRORS: dict[str, type[errors.SourceError]] = {
    cls.reason: cls for cls in (AlreadyConsumed, Expired, TokenNotFound, errors.IntegrityError, errors.AccessDenied,
                                errors.Throttled, errors.StoreNotReady, errors.Unavailable)}


def _error_from(result: dict[str, Any]) -> errors.SourceError:
    cls = _ERRORS.get(str(result.get("error")), errors.SourceError)
    return cls(str(result.get("error_message") or result.get("errorMessage") or "the wrap service failed"))


def error_payload(exc: StashError) -> dict[str, str]:
    return {"error": exc.reason, "error_message": exc.message}


def open_client_layer(clients: AwsClients, claimed: dict[str, Any]) -> bytes:
    """Remove the client layer: decrypt the client's data key with KMS, then its Fernet token."""
    with translate_errors("wrap token (client layer)"):
        client_key = clients.client("kms").decrypt(
            CiphertextBlob=base64.b64decode(claimed["data_key"]))["Plaintext"]
    try:
        return fmt.client_open(claimed["value"], client_key)
    except fmt.WrapIntegrityError as exc:
        raise errors.IntegrityError(f"wrapped value failed its integrity check: {exc}") from None


def seal_client_layer(clients: AwsClients, plaintext: bytes, client_kms_key: str) -> tuple[str, str]:
    """awswrap's client side: (base64 Fernet token, base64 KMS blob of its data key)."""
    with translate_errors(f"KMS key {client_kms_key!r}"):
        dk = clients.client("kms").generate_data_key(KeyId=client_kms_key, KeySpec="AES_256")
    return fmt.client_seal(plaintext, dk["Plaintext"]), base64.b64encode(dk["CiphertextBlob"]).decode()
