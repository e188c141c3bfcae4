"""A credstash table's DynamoDB stream, read shard by shard from LATEST: every item written (a new
version, a deleted one) names its credential. Blocking boto3 calls; controllers/feeds.py runs them
in worker threads. Closed shards are followed into their children (read from TRIM_HORIZON, so no
record of a split is missed); an expired or trimmed iterator restarts its shard at LATEST and says
so, since records may have been missed in between (the caller then wakes every reader: the backstop)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from stashsync import errors
from stashsync.aws.clients import AwsClients, translate_errors
from stashsync.feeds.events import Change, from_stream_record

RESTART_CODES = frozenset({"ExpiredIteratorException", "TrimmedDataAccessException"})


@dataclass
class Poll:
    changes: list[Change] = field(default_factory=list)
    gap: bool = False  # records may have been missed (an iterator had to restart)


class StreamReader:
    def __init__(self, clients: AwsClients, table: str) -> None:
        self.clients = clients
        self.table = table
        self.stream_arn = ""
        self._iterators: dict[str, str | None] = {}  # shard id -> next iterator (None: closed, done)
        self._seen: set[str] = set()  # shard ids ever read, so a child is read from its start

    @property
    def _streams(self) -> Any:
        return self.clients.client("dynamodbstreams")

    def open(self) -> None:
        """Find the table's stream and start reading every open shard at LATEST."""
        with translate_errors(f"DescribeTable {self.table}", not_found=errors.StoreNotReady):
            table = self.clients.client("dynamodb").describe_table(TableName=self.table)["Table"]
        arn = table.get("LatestStreamArn")
        if not arn or not (table.get("StreamSpecification") or {}).get("StreamEnabled", True):
            raise errors.StoreNotReady(f"table {self.table!r} has no DynamoDB stream: enable one (StreamViewType "
                                       "KEYS_ONLY is enough), e.g. `stashsync setup --stream`")
        self.stream_arn = arn
        self._iterators.clear()
        self._seen.clear()
        self._discover(initial=True)

    def _shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
            if start:
                kwargs["ExclusiveStartShardId"] = start
            with translate_errors("DescribeStream", not_found=errors.StoreNotReady):
                description = self._streams.describe_stream(**kwargs)["StreamDescription"]
            shards += description.get("Shards") or []
            start = description.get("LastEvaluatedShardId")
            if not start:
                return shards

    def _discover(self, initial: bool = False) -> None:
        """Start reading shards not read yet: at LATEST when the reader starts, from their start when
        they appear later (children of a split, whose records follow the parent's)."""
        for shard in self._shards():
            shard_id = shard["ShardId"]
            closed = "EndingSequenceNumber" in (shard.get("SequenceNumberRange") or {})
            if shard_id in self._seen or (initial and closed):
                continue
            self._seen.add(shard_id)
            self._iterators[shard_id] = self._iterator(shard_id, "LATEST" if initial else "TRIM_HORIZON")

    def _iterator(self, shard_id: str, kind: str) -> str:
        with translate_errors("GetShardIterator", not_found=errors.StoreNotReady):
            found: str = self._streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id,
                                                          ShardIteratorType=kind)["ShardIterator"]
        return found

    def poll(self) -> Poll:
        """One GetRecords per open shard."""
        result = Poll()
        ended = False
        for shard_id, iterator in list(self._iterators.items()):
            if iterator is None:
                continue
            try:
                with translate_errors("GetRecords", not_found=errors.StoreNotReady, passthrough=RESTART_CODES):
                    answer = self._streams.get_records(ShardIterator=iterator, Limit=1000)
            except botocore.exceptions.ClientError:  # expired or trimmed: start again, and say so
                self._iterators[shard_id] = self._iterator(shard_id, "LATEST")
                result.gap = True
                continue
            for record in answer.get("Records") or []:
                try:
                    result.changes.append(from_stream_record(record))
                except ValueError:
                    continue  # not a credstash item (no string `name` key): nothing we read
            self._iterators[shard_id] = answer.get("NextShardIterator")
            ended = ended or answer.get("NextShardIterator") is None
        if ended:
            self._iterators = {k: v for k, v in self._iterators.items() if v is not None}
            self._discover()
        return result
