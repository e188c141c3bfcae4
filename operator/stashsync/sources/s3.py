"""lazycred objects in S3 (`<bucket>/<prefix><name>`), each holding its own KMS-encrypted Fernet key.

The version of a credential is the object's ETag (or a pinned S3 VersionId), so a refresh costs one
HeadObject, or one ListObjectsV2 page for up to 1,000 names, and no KMS call."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from stashsync import errors, metrics
from stashsync.api import patterns
from stashsync.aws.clients import AwsClients, translate_errors
from stashsync.crypto import lazycred
from stashsync.kube import limits
from stashsync.sources import base

DEFAULT_KMS_KEY = "alias/lazycred"
_LIST_PAGE = 1000
_MAX_OBJECT_BYTES = 2 * limits.MAX_SECRET_BYTES  # a 1 MiB value grows by a third in Fernet's base64, plus JSON


def _etag(raw: str) -> str:
    return raw.strip('"')


class S3Source:
    def __init__(self, clients: AwsClients, bucket: str, prefix: str = "", kms_key_id: str = DEFAULT_KMS_KEY) -> None:
        self.clients = clients
        self.bucket = bucket
        self.prefix = prefix
        self.kms_key_id = kms_key_id

    @property
    def _s3(self) -> Any:
        return self.clients.client("s3")

    def _key(self, name: str) -> str:
        return self.prefix + name

    def feed_name(self, name: str) -> str:
        return f"{self.bucket}/{self._key(name)}"  # S3 events carry the bucket and the object key

    def name_in_feed(self, key: str) -> str | None:
        listed = f"{self.bucket}/{self.prefix}"
        return key[len(listed):] if key.startswith(listed) else None

    def validate(self) -> None:
        with translate_errors(f"bucket {self.bucket!r}", not_found=errors.StoreNotReady):
            self._s3.head_bucket(Bucket=self.bucket)

    # --- versions -------------------------------------------------------------------------------

    def current_version(self, ref: base.CredentialRef) -> str:
        if ref.version is not None:
            return ref.version  # an S3 VersionId is immutable: nothing to ask
        what = f"credential {ref.name!r} (s3://{self.bucket}/{self._key(ref.name)})"
        with translate_errors(what):
            head = self._s3.head_object(Bucket=self.bucket, Key=self._key(ref.name))
        return _etag(head["ETag"])

    def current_versions(self, refs: Sequence[base.CredentialRef]) -> list[str]:
        """Unpinned names share one listing of the key range they span (1,000 keys a page) when
        there are several; a single name costs one HeadObject."""
        latest = [r for r in refs if r.version is None]
        if len(latest) < 2:
            return [self.current_version(r) for r in refs]
        wanted = sorted({self._key(r.name) for r in latest})
        etags = self._list_etags(wanted[0], wanted[-1])
        result = []
        for ref in refs:
            if ref.version is not None:
                result.append(ref.version)
            elif self._key(ref.name) in etags:
                result.append(etags[self._key(ref.name)])
            else:
                raise errors.CredentialNotFound(
                    f"credential {ref.name!r} not found (s3://{self.bucket}/{self._key(ref.name)})")
        return result

    def _list_etags(self, first: str, last: str) -> dict[str, str]:
        """ETags of every key from `first` to `last` inclusive, listed in S3's (UTF-8 binary) key order."""
        etags: dict[str, str] = {}
        with translate_errors(f"bucket {self.bucket!r}", not_found=errors.StoreNotReady):
            for page in self._list(_common_prefix(first, last)):
                for obj in page.get("Contents", []):
                    if obj["Key"].encode() > last.encode():
                        return etags  # listed in key order: the rest is past the last name
                    etags[obj["Key"]] = _etag(obj["ETag"])
        return etags

    def _list(self, prefix: str) -> Iterator[dict[str, Any]]:
        """ListObjectsV2 pages under `prefix`, fetched one at a time as they are consumed."""
        return iter(self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": _LIST_PAGE}))

    # --- values ---------------------------------------------------------------------------------

    def fetch(self, ref: base.CredentialRef, version: str) -> bytes:
        return self._get(ref, version if ref.version is not None else None)[1]

    def read_current(self, refs: Sequence[base.CredentialRef]) -> list[tuple[str, bytes]]:
        """One GetObject per name: the answer carries the ETag (or the pinned VersionId)."""
        return [self._get(ref, ref.version) for ref in refs]

    def _get(self, ref: base.CredentialRef, version_id: str | None) -> tuple[str, bytes]:
        key = self._key(ref.name)
        what = f"credential {ref.name!r} (s3://{self.bucket}/{key})"
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id is not None:
            kwargs["VersionId"] = version_id
        with translate_errors(what):
            response = self._s3.get_object(**kwargs)
            if response.get("ContentLength", 0) > _MAX_OBJECT_BYTES:
                response["Body"].close()
                raise errors.TooLarge(f"{what} is a {response['ContentLength']}-byte object; a Secret holds at most "
                                    f"{limits.MAX_SECRET_BYTES} bytes")
            body = response["Body"].read()
        try:
            kms_blob, token = lazycred.parse(body)
        except lazycred.FormatError as exc:
            raise errors.IntegrityError(f"{what}: {exc}") from None
        with translate_errors(what):
            metrics.KMS_DECRYPTS.inc()
            fernet_key = self._kms.decrypt(CiphertextBlob=kms_blob)["Plaintext"]
        version = version_id or _etag(response["ETag"])
        try:
            return version, limits.check_fits(ref.name, lazycred.open_token(fernet_key, token))
        except lazycred.IntegrityError:
            raise errors.IntegrityError(f"{what} failed its integrity check (tampered or corrupt)") from None

    def fetch_many(self, wanted: Sequence[tuple[base.CredentialRef, str]]) -> list[bytes]:
        return [self.fetch(ref, version) for ref, version in wanted]

    @property
    def _kms(self) -> Any:
        return self.clients.client("kms")

    def find(self, pattern: str, tags: dict[str, str]) -> dict[str, str | None]:
        """One listing of the prefix gives every name and its ETag."""
        base.no_tags(tags, "an S3 store")
        found: dict[str, str] = {}
        with translate_errors(f"bucket {self.bucket!r}", not_found=errors.StoreNotReady):
            for page in self._list(self.prefix):
                found.update({o["Key"][len(self.prefix):]: _etag(o["ETag"]) for o in page.get("Contents", [])})
        return {name: found[name] for name in patterns.matching(list(found), pattern)}

    # --- writing (CLI) --------------------------------------------------------------------------

    def put(self, name: str, value: bytes) -> str:
        """Write `value` as lazycred does (a fresh Fernet key per object); returns the new ETag."""
        fernet_key = lazycred.new_key()
        with translate_errors(f"KMS key {self.kms_key_id!r}"):
            blob = self._kms.encrypt(KeyId=self.kms_key_id, Plaintext=fernet_key)["CiphertextBlob"]
        with translate_errors(f"s3://{self.bucket}/{self._key(name)}", not_found=errors.StoreNotReady):
            response = self._s3.put_object(Bucket=self.bucket, Key=self._key(name),
                                           Body=lazycred.seal(value, fernet_key, blob),
                                           ContentType="application/json")
        return _etag(response["ETag"])


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]
