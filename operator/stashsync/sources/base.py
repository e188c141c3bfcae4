"""The one interface every backend implements.

Shaped like External Secrets Operator's providers: a cheap version check, a costly fetch that
runs only when the version changed, a find over names, and a store validation. Every error a
user can act on is a StashError (errors.py) whose `reason` becomes the CR's `Ready=False` reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeGuard, runtime_checkable

from stashsync import errors


@dataclass(frozen=True)
class CredentialRef:
    """What to read: a name, an optional pinned version, an optional encryption context."""

    name: str
    version: str | None = None
    context: dict[str, str] = field(default_factory=dict)

    def context_key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.context.items()))

    def __hash__(self) -> int:  # the context dict is not hashable; its sorted items are
        return hash((self.name, self.version, self.context_key()))


class Source(Protocol):
    """A backend. Methods are blocking (boto3); the operator runs them in worker threads."""

    def validate(self) -> None:
        """Cheap check that the store is reachable and usable; raises SourceError."""

    def current_version(self, ref: CredentialRef) -> str:
        """The version `ref` resolves to now (pinned or latest), without decrypting anything."""

    def fetch(self, ref: CredentialRef, version: str) -> bytes:
        """The plaintext of `ref` at `version`."""

    def find(self, pattern: str, tags: dict[str, str]) -> dict[str, str | None]:
        """Names matching `pattern` (glob, or a regex when written as /regex/) and, where the backend
        supports them, `tags`; each with its current version when the listing gives it for free."""

    def feed_name(self, name: str) -> str:
        """How a change feed names credential `name` (feeds.events.Change.key): so a feed event
        wakes exactly the objects reading what changed."""

    def name_in_feed(self, key: str) -> str | None:
        """The name `find` lists for a change feed's `key` (the reverse of feed_name), or None when
        the key is outside what this store lists: so a feed event wakes only the dataFrom objects
        whose pattern may list what changed."""


@runtime_checkable
class BatchSource(Source, Protocol):
    """A backend whose API answers many names per call; the sync asks it once for all of them."""

    def current_versions(self, refs: Sequence[CredentialRef]) -> list[str]:
        """current_version of each ref, in order, in as few calls as the API allows."""

    def fetch_many(self, wanted: Sequence[tuple[CredentialRef, str]]) -> list[bytes]:
        """fetch of each (ref, version), in order, in as few calls as the API allows."""


@runtime_checkable
class AheadChecker(BatchSource, Protocol):
    """A BatchSource whose version checks take more names than one sync needs (ListSecrets' name
    filter takes 10): the room left carries the credentials of the same store checked longest ago,
    whose objects are the next due, so N objects on N credentials make N/10 checks per interval."""

    def room_to_check(self, refs: Sequence[CredentialRef]) -> int:
        """How many more credentials the calls checking `refs` have room for."""

    def current_versions_ahead(self, refs: Sequence[CredentialRef], ahead: Sequence[CredentialRef]
                               ) -> tuple[list[str], dict[CredentialRef, str]]:
        """current_versions of `refs`, and those of `ahead` the same calls found. Nothing about
        `ahead` fails the check of `refs` (as for AheadReader)."""


@runtime_checkable
class CurrentReader(Protocol):
    """A backend that can return versions and values together, for syncs that need every value
    anyway (the first one, or after the Secret was edited): one read per credential instead of a
    version check and then a read."""

    def read_current(self, refs: Sequence[CredentialRef]) -> list[tuple[str, bytes]]:
        """(version, value) of each ref, in order."""


Read = tuple[str, bytes]  # (version, value)


@runtime_checkable
class AheadReader(CurrentReader, Protocol):
    """A CurrentReader whose calls take more names than one sync needs (Secrets Manager's
    BatchGetSecretValue takes 20): the room left in them carries the credentials the next first
    syncs of the same store will read, so N objects on N credentials cost N/20 calls, not N."""

    def room_ahead(self, refs: Sequence[CredentialRef]) -> int:
        """How many more current credentials the calls reading `refs` have room for."""

    def read_current_ahead(self, refs: Sequence[CredentialRef],
                           ahead: Sequence[CredentialRef]) -> tuple[list[Read], dict[CredentialRef, Read]]:
        """read_current of `refs`, and those of `ahead` that the same calls returned. Nothing about
        `ahead` may fail the read of `refs`: a credential ahead that is missing, denied or too large
        is left out (its own sync reads it and reports), a call failing for them is made without them."""


_IMPLEMENTS: dict[tuple[type, type], bool] = {}


def _implements(kind: type, protocol: type) -> bool:
    # isinstance() with a runtime-checkable protocol looks every member up on every call (about 3 % of
    # the operator's CPU in first syncs, on Python 3.11); these protocols hold methods only, so a
    # class's answer holds for all its instances.
    key = (kind, protocol)
    if key not in _IMPLEMENTS:
        _IMPLEMENTS[key] = issubclass(kind, protocol)
    return _IMPLEMENTS[key]


def is_batch_source(source: object) -> TypeGuard[BatchSource]:
    return _implements(type(source), BatchSource)


def is_ahead_checker(source: object) -> TypeGuard[AheadChecker]:
    return _implements(type(source), AheadChecker)


def is_current_reader(source: object) -> TypeGuard[CurrentReader]:
    return _implements(type(source), CurrentReader)


def is_ahead_reader(source: object) -> TypeGuard[AheadReader]:
    return _implements(type(source), AheadReader)


def no_tags(tags: dict[str, str], backend: str) -> None:
    if tags:
        raise errors.InvalidReference(f"dataFrom[].tags: {backend} has no tags to filter by; use a name pattern")
