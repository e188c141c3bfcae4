"""credstash / credsmash tables in DynamoDB, data keys in KMS (formats: crypto.credstash)."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from stashsync import errors, metrics
from stashsync.api import patterns
from stashsync.aws.clients import AwsClients, translate_errors
from stashsync.crypto import credstash as fmt
from stashsync.kube import limits
from stashsync.sources import base
from stashsync.sources.dynamo import DynamoTable, plain

DEFAULT_TABLE = "credential-store"
DEFAULT_KMS_KEY = "alias/credstash"


def _attribute(value: str | bytes) -> dict[str, str | bytes]:
    return {"B": value} if isinstance(value, bytes) else {"S": value}


# Item attributes recording the versions stashsync generated, and for which SyncedSecret.
GENERATED_BY = "stashsync_generated_by"
GENERATED_AT = "stashsync_generated_at"


@dataclass(frozen=True)
class GeneratedVersion:
    version: str
    generated_by: str | None
    generated_at: float  # epoch seconds; 0 when not generated


class CredstashSource(DynamoTable):
    def __init__(self, clients: AwsClients, table: str = DEFAULT_TABLE, kms_key_id: str = DEFAULT_KMS_KEY,
                 algorithm: fmt.Algorithm = fmt.Algorithm.CREDSTASH, digest: str = "SHA256",
                 allow_generate: bool = False) -> None:
        super().__init__(clients, table)
        self.kms_key_id = kms_key_id
        self.algorithm = algorithm
        self.digest = digest
        self.allow_generate = allow_generate

    # --- reading (the operator's path) ---------------------------------------------------------

    def current_version(self, ref: base.CredentialRef) -> str:
        """Versions are shown unpadded ("3"); the table stores them padded to 19 digits."""
        if ref.version is not None:
            if not ref.version.isdigit():
                raise errors.InvalidReference(f"credential {ref.name!r}: credstash versions are whole numbers, "
                                            f"not {ref.version!r}")
            return str(int(ref.version))
        items = self.generated_versions(ref.name, limit=1)
        if not items:
            raise errors.CredentialNotFound(f"credential {ref.name!r} not found in table {self.table!r}")
        return str(int(items[0].version))

    def feed_name(self, name: str) -> str:
        return name  # the item's partition key, as its DynamoDB stream record carries it

    def name_in_feed(self, key: str) -> str | None:
        return key

    def fetch(self, ref: base.CredentialRef, version: str) -> bytes:
        what = f"credential {ref.name!r} version {int(version)}"
        with translate_errors(what, not_found=errors.StoreNotReady):
            response = self._ddb.get_item(TableName=self.table, ConsistentRead=True,
                                          Key={"name": {"S": ref.name}, "version": {"S": fmt.pad_version(version)}})
        if "Item" not in response:
            raise errors.CredentialNotFound(f"{what} not found in table {self.table!r}")
        return limits.check_fits(ref.name, self.open(plain(response["Item"]), ref.context, what))

    def read_current(self, refs: Sequence[base.CredentialRef]) -> list[tuple[str, bytes]]:
        """Latest items come whole from the version query itself (Limit 1): one DynamoDB call and one
        KMS Decrypt per credential, instead of a query and then a GetItem. Run side by side."""
        if len(refs) <= 1:
            return [self._read_one(r) for r in refs]
        # Each read runs in this call's context (a copy each), so its requests are charged to the
        # namespace this call is made for (aws/ratelimit.py).
        contexts = [contextvars.copy_context() for _ in refs]
        with ThreadPoolExecutor(max_workers=min(8, len(refs)), thread_name_prefix="credstash") as pool:
            return list(pool.map(lambda context, ref: context.run(self._read_one, ref), contexts, refs))

    def _read_one(self, ref: base.CredentialRef) -> tuple[str, bytes]:
        if ref.version is not None:
            version = self.current_version(ref)
            return version, self.fetch(ref, version)
        with translate_errors(f"credential {ref.name!r}", not_found=errors.StoreNotReady):
            items = self._ddb.query(
                TableName=self.table, KeyConditionExpression="#n = :n", ScanIndexForward=False, ConsistentRead=True,
                Limit=1, ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={":n": {"S": ref.name}}).get("Items", [])
        if not items:
            raise errors.CredentialNotFound(f"credential {ref.name!r} not found in table {self.table!r}")
        item = plain(items[0])
        version = str(int(item["version"]))
        what = f"credential {ref.name!r} version {version}"
        return version, limits.check_fits(ref.name, self.open(item, ref.context, what))

    def open(self, item: dict[str, Any], context: dict[str, str], what: str) -> bytes:
        try:
            blob = fmt.wrapped_key(item)
            want = fmt.data_key_bytes(fmt.detect_algorithm(item))
        except fmt.FormatError as exc:
            raise errors.IntegrityError(f"{what} is malformed: {exc}") from None
        with translate_errors(what):
            metrics.KMS_DECRYPTS.inc()
            data_key = self._kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"]
        if len(data_key) != want:
            raise errors.IntegrityError(f"{what}: KMS returned a {len(data_key)}-byte data key, expected {want}")
        try:
            return fmt.open_item(item, data_key)
        except fmt.IntegrityError:
            raise errors.IntegrityError(f"{what} failed its integrity check (tampered or corrupt)") from None
        except fmt.FormatError as exc:
            raise errors.IntegrityError(f"{what} is malformed: {exc}") from None

    def find(self, pattern: str, tags: dict[str, str]) -> dict[str, str | None]:
        """One consistent scan names every credential and its latest version, so the sync needs no
        per-name version query for what it found."""
        base.no_tags(tags, "a credstash table")
        latest: dict[str, str] = {}
        for name, version in self.scan(consistent=True):
            latest[name] = max(latest.get(name, version), version)
        return {name: str(int(latest[name])) for name in patterns.matching(list(latest), pattern)}

    # --- table listing and writing (CLI and generated credentials) ---------------------------

    def versions(self, name: str) -> list[str]:
        return [v.version for v in self.generated_versions(name)]

    def scan(self, consistent: bool = False) -> Iterator[tuple[str, str]]:
        """Every (name, version) in the table."""
        kwargs: dict[str, Any] = {"TableName": self.table, "ProjectionExpression": "#n, #v",
                                  "ConsistentRead": consistent,
                                  "ExpressionAttributeNames": {"#n": "name", "#v": "version"}}
        with translate_errors(f"table {self.table!r}", not_found=errors.StoreNotReady):
            for page in self._ddb.get_paginator("scan").paginate(**kwargs):
                for item in page.get("Items", []):
                    yield item["name"]["S"], item["version"]["S"]

    def list_names(self) -> list[str]:
        return sorted({name for name, _ in self.scan()})

    def generated_versions(self, name: str, limit: int | None = None) -> list[GeneratedVersion]:
        """Versions of `name`, newest first, with who generated each (None: written by a person or
        another tool) and when. Projects only those attributes (cheap)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "#n = :n", "ScanIndexForward": False,
            "ConsistentRead": True, "ProjectionExpression": "#v, #by, #at",
            "ExpressionAttributeNames": {"#n": "name", "#v": "version", "#by": GENERATED_BY, "#at": GENERATED_AT},
            "ExpressionAttributeValues": {":n": {"S": name}}}
        if limit:
            kwargs["Limit"] = limit
        found: list[GeneratedVersion] = []
        with translate_errors(f"versions of {name!r}", not_found=errors.StoreNotReady):
            for page in self._ddb.get_paginator("query").paginate(**kwargs):
                for item in page.get("Items", []):
                    found.append(GeneratedVersion(item["version"]["S"], item.get(GENERATED_BY, {}).get("S"),
                                                  float(item.get(GENERATED_AT, {}).get("N", "0"))))
                if limit and len(found) >= limit:
                    break  # pages are fetched lazily: no further query
        return found

    def put(self, name: str, value: bytes, version: int, context: dict[str, str],
            generated_by: str | None = None) -> str:
        """Write a new version; refuses to overwrite (conditional put). Returns the padded version.
        `generated_by` marks a version the operator generated (credstash ignores extra attributes)."""
        padded = fmt.pad_version(version)
        with translate_errors(f"KMS key {self.kms_key_id!r}"):
            dk = self._kms.generate_data_key(KeyId=self.kms_key_id, EncryptionContext=context,
                                             NumberOfBytes=fmt.data_key_bytes(self.algorithm))
        sealed = fmt.seal(value, dk["Plaintext"], dk["CiphertextBlob"], self.algorithm, self.digest)
        item: dict[str, dict[str, str | bytes]] = {"name": {"S": name}, "version": {"S": padded}}
        item.update({k: _attribute(v) for k, v in sealed.attributes.items()})
        if generated_by is not None:
            item[GENERATED_BY] = {"S": generated_by}
            item[GENERATED_AT] = {"N": str(int(time.time()))}
        ddb = self._ddb
        try:
            with translate_errors(f"put {name!r}", not_found=errors.StoreNotReady,
                                  passthrough=frozenset({"ConditionalCheckFailedException"})):
                ddb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(#n)",
                             ExpressionAttributeNames={"#n": "name"})
        except ddb.exceptions.ConditionalCheckFailedException:
            raise VersionExists(f"{name!r} version {version} already exists; use a higher version") from None
        return padded

    def next_version(self, name: str) -> int:
        latest = self.generated_versions(name, limit=1)
        return int(latest[0].version) + 1 if latest else 1

    def delete_version(self, name: str, version: str) -> None:
        with translate_errors(f"delete {name!r}", not_found=errors.StoreNotReady):
            self._ddb.delete_item(TableName=self.table, Key={"name": {"S": name}, "version": {"S": version}})

    def create_table(self) -> bool:
        """Create the table if missing (credstash `setup`). Returns True when it was created."""
        return self.create_if_missing("name", "version")

class VersionExists(errors.SourceError):
    reason = "VersionExists"

