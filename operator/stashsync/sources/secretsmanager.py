"""AWS Secrets Manager.

A refresh asks ListSecrets for the version stages of up to 10 names per call (name filters; no
value, no KMS); values are read only on change, with BatchGetSecretValue (20 per call) for the
current version and GetSecretValue for a pinned one. `version` is a version id (a UUID) or a staging
label (AWSCURRENT when empty, AWSPREVIOUS, or your own)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from stashsync import errors
from stashsync.api import patterns
from stashsync.aws.clients import AwsClients, translate_errors
from stashsync.feeds.events import secret_name
from stashsync.kube import limits
from stashsync.sources import base

CURRENT = "AWSCURRENT"
_NAMES_PER_LIST = 10  # values per ListSecrets filter
_IDS_PER_BATCH = 20  # SecretIdList per BatchGetSecretValue
_VERSION_ID = re.compile(r"^[0-9a-fA-F-]{32,64}$")
_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:")


def is_version_id(version: str) -> bool:
    return bool(_VERSION_ID.match(version))


_T = TypeVar("_T")


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _calls(names: Sequence[str], size: int, ahead: Sequence[str]) -> Iterator[tuple[Sequence[str], Sequence[str]]]:
    """(names, names ahead) of each call for `names`, `size` to a call: the last one carries `ahead`."""
    chunks = list(_chunks(names, size))
    for number, chunk in enumerate(chunks, 1):
        yield chunk, ahead if number == len(chunks) else ()


def _fails_nothing_ahead(call: Callable[[Sequence[str]], _T], ahead: Sequence[str]) -> _T:
    """call(ahead), made again as call(()) when AWS refuses it outright (not throttled or
    unavailable) while it carries names read ahead for other syncs: those names fail nothing."""
    try:
        return call(ahead)
    except errors.SourceError as exc:
        if not ahead or isinstance(exc, errors.Throttled | errors.Unavailable):
            raise
        return call(())


def _listable(ref: base.CredentialRef) -> bool:
    """Checked by name in ListSecrets (a version id needs no check, an ARN a DescribeSecret)."""
    return not (ref.version and is_version_id(ref.version)) and not _ARN.match(ref.name)


def _is_current(ref: base.CredentialRef) -> bool:
    return not ref.version or ref.version == CURRENT


def _stage_version(stages: dict[str, list[str]], stage: str) -> str | None:
    return next((vid for vid, labels in stages.items() if stage in labels), None)


def _stages(entry: dict[str, Any]) -> dict[str, list[str]]:
    stages: dict[str, list[str]] = entry.get("SecretVersionsToStages") or entry.get("VersionIdsToStages") or {}
    return stages


def _value(response: dict[str, Any], what: str) -> bytes:
    if "SecretString" in response:
        value: bytes = response["SecretString"].encode()
    elif "SecretBinary" in response:
        value = response["SecretBinary"]
    else:
        raise errors.CredentialNotFound(f"{what} has no value at version {response.get('VersionId')}")
    return limits.check_fits(what, value)


class SecretsManagerSource:
    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    @property
    def _sm(self) -> Any:
        return self.clients.client("secretsmanager")

    def feed_name(self, name: str) -> str:
        return secret_name(name)  # an ARN and the name it ends in are the same secret

    def name_in_feed(self, key: str) -> str | None:
        return key  # already the secret's name (feeds.events.Change.key)

    def validate(self) -> None:
        with translate_errors("Secrets Manager", not_found=errors.StoreNotReady):
            self._sm.list_secrets(MaxResults=1)

    # --- versions -------------------------------------------------------------------------------

    def current_version(self, ref: base.CredentialRef) -> str:
        return self.current_versions([ref])[0]

    def current_versions(self, refs: Sequence[base.CredentialRef]) -> list[str]:
        return self.current_versions_ahead(refs, ())[0]

    def room_to_check(self, refs: Sequence[base.CredentialRef]) -> int:
        return -len({r.name for r in refs if _listable(r)}) % _NAMES_PER_LIST

    def current_versions_ahead(self, refs: Sequence[base.CredentialRef], ahead: Sequence[base.CredentialRef]
                               ) -> tuple[list[str], dict[base.CredentialRef, str]]:
        """The last ListSecrets call checking `refs` takes as many names of `ahead` as it has room for."""
        by_name = sorted({r.name for r in refs if _listable(r)})
        extra = sorted({r.name for r in ahead if _listable(r)} - set(by_name))[:self.room_to_check(refs)]
        stages: dict[str, dict[str, list[str]]] = {}
        for chunk, ahead_names in _calls(by_name, _NAMES_PER_LIST, extra):
            stages.update(self._list_stages(chunk, ahead_names))
        result = []
        for ref in refs:
            if ref.version and is_version_id(ref.version):
                result.append(ref.version)  # a version id is immutable
                continue
            if _ARN.match(ref.name):
                with translate_errors(f"secret {ref.name!r}"):
                    stages[ref.name] = _stages(self._sm.describe_secret(SecretId=ref.name))
            stage = ref.version or CURRENT
            if ref.name not in stages:
                raise errors.CredentialNotFound(f"secret {ref.name!r} not found in Secrets Manager")
            version = _stage_version(stages[ref.name], stage)
            if version is None:
                raise errors.CredentialNotFound(f"secret {ref.name!r} has no version labelled {stage}")
            result.append(version)
        checked = {}
        for ref in ahead:
            if ref.name in extra and ref.name in stages:
                found = _stage_version(stages[ref.name], ref.version or CURRENT)
                if found is not None:
                    checked[ref] = found
        return result, checked

    def _list_stages(self, names: Sequence[str], ahead: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        """Version stages of `names` (and of `ahead`, checked for other syncs: a call refused outright
        for them, not throttled, is made again without them), by exact name."""
        def list_stages(extra: Sequence[str]) -> dict[str, dict[str, list[str]]]:
            wanted = [*names, *extra]
            listed = self._list([{"Key": "name", "Values": wanted}])
            # Name filters match prefixes: keep exact names only.
            return {n: _stages(e) for n, e in listed.items() if n in wanted}
        return _fails_nothing_ahead(list_stages, ahead)

    def _list(self, filters: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """name -> ListSecrets entry (version stages and tags, never a value) for what the filters match."""
        found: dict[str, dict[str, Any]] = {}
        with translate_errors("ListSecrets", not_found=errors.StoreNotReady):
            for page in self._sm.get_paginator("list_secrets").paginate(
                    Filters=filters, PaginationConfig={"PageSize": 100}):
                for entry in page.get("SecretList", []):
                    found[entry["Name"]] = entry
        return found

    # --- values ---------------------------------------------------------------------------------

    def fetch(self, ref: base.CredentialRef, version: str) -> bytes:
        what = f"secret {ref.name!r}"
        with translate_errors(what):
            return _value(self._sm.get_secret_value(SecretId=ref.name, VersionId=version), what)

    def fetch_many(self, wanted: Sequence[tuple[base.CredentialRef, str]]) -> list[bytes]:
        """Current versions come 20 to a BatchGetSecretValue call; anything the batch returned at
        another version (pinned, or rotated since the check) is read by version id."""
        ids = sorted({ref.name for ref, _ in wanted})
        batch: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(ids, _IDS_PER_BATCH):
            batch.update(self._batch(chunk))
        values = []
        for ref, version in wanted:
            entry = batch.get(ref.name)
            if entry is not None and entry.get("VersionId") == version:
                values.append(_value(entry, f"secret {ref.name!r}"))
            else:
                values.append(self.fetch(ref, version))
        return values

    def read_current(self, refs: Sequence[base.CredentialRef]) -> list[base.Read]:
        """Current versions 20 to a BatchGetSecretValue call (each answer carries its version id);
        pinned ones with GetSecretValue by id or stage."""
        return self.read_current_ahead(refs, ())[0]

    def room_ahead(self, refs: Sequence[base.CredentialRef]) -> int:
        return -len({r.name for r in refs if _is_current(r)}) % _IDS_PER_BATCH  # 0: no batch call, or a full one

    def read_current_ahead(self, refs: Sequence[base.CredentialRef], ahead: Sequence[base.CredentialRef]
                           ) -> tuple[list[base.Read], dict[base.CredentialRef, base.Read]]:
        """The last BatchGetSecretValue call reading `refs` takes as many current names of `ahead`
        as it has room for."""
        current = sorted({r.name for r in refs if _is_current(r)})
        extra = sorted({r.name for r in ahead if _is_current(r)} - set(current))[:self.room_ahead(refs)]
        batch: dict[str, dict[str, Any]] = {}
        for chunk, ahead_ids in _calls(current, _IDS_PER_BATCH, extra):
            batch.update(self._batch(chunk, ahead_ids))
        result = []
        for ref in refs:
            what = f"secret {ref.name!r}"
            entry = batch.get(ref.name) if _is_current(ref) else None
            if entry is None:
                kwargs: dict[str, str] = {"SecretId": ref.name}
                if ref.version and is_version_id(ref.version):
                    kwargs["VersionId"] = ref.version
                elif ref.version:
                    kwargs["VersionStage"] = ref.version
                with translate_errors(what):
                    entry = self._sm.get_secret_value(**kwargs)
            result.append((str(entry["VersionId"]), _value(entry, what)))
        read_ahead: dict[base.CredentialRef, base.Read] = {}
        for ref in ahead:
            entry = batch.get(ref.name) if _is_current(ref) and ref.name in extra else None
            if entry is not None:
                with contextlib.suppress(errors.StashError):  # too large: its own sync says so
                    read_ahead[ref] = (str(entry["VersionId"]), _value(entry, f"secret {ref.name!r}"))
        return result, read_ahead

    def _batch(self, ids: Sequence[str], ahead: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
        """BatchGetSecretValue for up to 20 ids, by name and by ARN; missing ones are left out. Ids read
        `ahead` for other syncs fail nothing: their errors are ignored, and a call refused outright
        (not throttled) is made again without them."""
        found, failed = _fails_nothing_ahead(lambda extra: self._call_batch([*ids, *extra]), ahead)
        for secret_id, code in failed.items():
            if secret_id in ids and code in ("AccessDeniedException", "DecryptionFailure"):
                raise errors.AccessDenied(f"AWS denied secret {secret_id!r}: {code}")
        return found

    def _call_batch(self, ids: Sequence[str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        """(name and ARN -> entry, id -> error code) of one BatchGetSecretValue call."""
        with translate_errors(f"{len(ids)} secrets"):
            response = self._sm.batch_get_secret_value(SecretIdList=list(ids))
        found: dict[str, dict[str, Any]] = {}
        for entry in response.get("SecretValues", []):
            found[entry["Name"]] = found[entry["ARN"]] = entry
        return found, {str(e.get("SecretId")): str(e.get("ErrorCode")) for e in response.get("Errors", [])}

    # --- finding --------------------------------------------------------------------------------

    def find(self, pattern: str, tags: dict[str, str]) -> dict[str, str | None]:
        """ListSecrets with the pattern's literal prefix and the tags as server-side filters; the
        listing carries each secret's current version id, so what is found needs no version check."""
        filters: list[dict[str, Any]] = []
        prefix = patterns.literal_prefix(pattern)
        if prefix:
            filters.append({"Key": "name", "Values": [prefix]})
        for key, value in sorted(tags.items()):
            filters.append({"Key": "tag-key", "Values": [key]})
            filters.append({"Key": "tag-value", "Values": [value]})
        # Tag filters match keys and values independently: keep secrets carrying each key=value pair.
        listed = {n: e for n, e in self._list(filters).items()
                  if all({t["Key"]: t["Value"] for t in e.get("Tags") or []}.get(k) == v for k, v in tags.items())}
        return {name: _stage_version(_stages(listed[name]), CURRENT)
                for name in patterns.matching(list(listed), pattern)}
