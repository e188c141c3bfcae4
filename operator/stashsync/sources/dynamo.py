"""What the DynamoDB-table backends share (credstash tables, wrap tables): clients, the table
check, and plain Python values from low-level attribute values."""

from __future__ import annotations

from typing import Any

from stashsync import errors
from stashsync.aws.clients import AwsClients, translate_errors


def plain(item: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Low-level DynamoDB attribute values -> str (S, N) or bytes (B)."""
    return {k: next(iter(v.values())) for k, v in item.items()}


class DynamoTable:
    """A table whose items are guarded by KMS keys."""

    kind = "table"

    def __init__(self, clients: AwsClients, table: str) -> None:
        self.clients = clients
        self.table = table

    @property
    def _ddb(self) -> Any:
        return self.clients.client("dynamodb")

    @property
    def _kms(self) -> Any:
        return self.clients.client("kms")

    def create_if_missing(self, hash_key: str, range_key: str, ttl_attribute: str | None = None) -> bool:
        """Create the table (string keys, on-demand) unless it exists; True when it was created.
        `ttl_attribute`: let DynamoDB delete items whose epoch-seconds attribute has passed."""
        ddb = self._ddb
        with translate_errors(f"create {self.kind} {self.table!r}", not_found=errors.StoreNotReady):
            try:
                ddb.describe_table(TableName=self.table)
                return False
            except ddb.exceptions.ResourceNotFoundException:
                pass
            ddb.create_table(
                TableName=self.table, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"},
                           {"AttributeName": range_key, "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": hash_key, "AttributeType": "S"},
                                      {"AttributeName": range_key, "AttributeType": "S"}])
            ddb.get_waiter("table_exists").wait(TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
            if ttl_attribute:
                ddb.update_time_to_live(TableName=self.table, TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": ttl_attribute})
        return True

    def enable_stream(self) -> bool:
        """Give the table a DynamoDB stream of its keys (a store's changeFeed.dynamodbStream reads it),
        unless it has one; True when one was enabled."""
        ddb = self._ddb
        with translate_errors(f"enable the stream of {self.kind} {self.table!r}", not_found=errors.StoreNotReady):
            spec = ddb.describe_table(TableName=self.table)["Table"].get("StreamSpecification") or {}
            if spec.get("StreamEnabled"):
                return False
            ddb.update_table(TableName=self.table,
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
        return True

    def validate(self) -> None:
        """Cheap: one DescribeTable."""
        what = f"{self.kind} {self.table!r}"
        with translate_errors(what, not_found=errors.StoreNotReady):
            status = self._ddb.describe_table(TableName=self.table)["Table"]["TableStatus"]
        if status not in ("ACTIVE", "UPDATING"):
            raise errors.StoreNotReady(f"{what} is {status}")
