"""Fakes for unit tests of the flows (External Secrets Operator's fake/ pattern): a source holding
credentials in a dict and counting the calls made to it, clients that run its blocking methods
inline, and a Secret store holding Secrets in a dict. No AWS, no Kubernetes, milliseconds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from stashsync import errors
from stashsync.api.stores import parse_store
from stashsync.aws.clients import AwsClients
from stashsync.controllers.version_index import Subscription, VersionIndex
from stashsync.kube import secrets
from stashsync.sources.base import CredentialRef
from stashsync.sources.registry import StoreHandle
from tests.objects import credstash_store

T = TypeVar("T")


class FakeSource:
    """Credentials as name -> (version, value); `calls` counts each method called."""

    def __init__(self, credentials: dict[str, tuple[str, bytes]]) -> None:
        self.credentials = credentials
        self.calls: Counter[str] = Counter()

    def validate(self) -> None:
        self.calls["validate"] += 1

    def current_version(self, ref: CredentialRef) -> str:
        self.calls["current_version"] += 1
        return self._get(ref)[0]

    def fetch(self, ref: CredentialRef, version: str) -> bytes:
        self.calls["fetch"] += 1
        return self._get(ref)[1]

    def find(self, pattern: str, tags: dict[str, str]) -> dict[str, str | None]:
        self.calls["find"] += 1
        prefix = pattern.rstrip("*")
        return {name: version for name, (version, _) in self.credentials.items() if name.startswith(prefix)}

    def feed_name(self, name: str) -> str:
        return name

    def name_in_feed(self, key: str) -> str | None:
        return key

    def _get(self, ref: CredentialRef) -> tuple[str, bytes]:
        if ref.name not in self.credentials:
            raise errors.CredentialNotFound(f"credential {ref.name!r} not found")
        return self.credentials[ref.name]


class FakeCurrentReader(FakeSource):
    """A backend that returns versions and values together (as Secrets Manager and S3 can)."""

    def read_current(self, refs: Sequence[CredentialRef]) -> list[tuple[str, bytes]]:
        self.calls["read_current"] += 1
        return [self._get(ref) for ref in refs]


class FakeAheadReader(FakeCurrentReader):
    """A backend whose calls take `per_call` names: the room left reads ahead for other syncs."""

    def __init__(self, credentials: dict[str, tuple[str, bytes]], per_call: int = 4) -> None:
        super().__init__(credentials)
        self.per_call = per_call

    def room_ahead(self, refs: Sequence[CredentialRef]) -> int:
        return -len(refs) % self.per_call

    def read_current_ahead(self, refs: Sequence[CredentialRef], ahead: Sequence[CredentialRef]
                           ) -> tuple[list[tuple[str, bytes]], dict[CredentialRef, tuple[str, bytes]]]:
        self.calls["read_current_ahead"] += 1
        return [self._get(ref) for ref in refs], {r: self.credentials[r.name] for r in ahead
                                                  if r.name in self.credentials}


class FakeAheadChecker(FakeSource):
    """A backend whose version checks take `per_call` names: the room left checks others along."""

    def __init__(self, credentials: dict[str, tuple[str, bytes]], per_call: int = 4) -> None:
        super().__init__(credentials)
        self.per_call = per_call

    def current_versions(self, refs: Sequence[CredentialRef]) -> list[str]:
        self.calls["current_versions"] += 1
        return [self._get(ref)[0] for ref in refs]

    def fetch_many(self, wanted: Sequence[tuple[CredentialRef, str]]) -> list[bytes]:
        self.calls["fetch_many"] += 1
        return [self._get(ref)[1] for ref, _ in wanted]

    def room_to_check(self, refs: Sequence[CredentialRef]) -> int:
        return -len(refs) % self.per_call

    def current_versions_ahead(self, refs: Sequence[CredentialRef], ahead: Sequence[CredentialRef]
                               ) -> tuple[list[str], dict[CredentialRef, str]]:
        self.calls["current_versions_ahead"] += 1
        self.checked_along = list(ahead)
        return [self._get(ref)[0] for ref in refs], {r: self.credentials[r.name][0] for r in ahead
                                                     if r.name in self.credentials}


class InlineClients:
    """AwsClients.run without the worker threads."""

    async def run(self, tenant: str, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)


def handle(source: FakeSource) -> StoreHandle:
    spec = parse_store(credstash_store("main", "table") | {"metadata": {"name": "main", "namespace": "ns"}})
    return StoreHandle(spec, cast(AwsClients, InlineClients()), source=source)


def unshared() -> Subscription:
    """A sync's view of a version index of its own, which checks anew every time (max_age 0)."""
    return Subscription(VersionIndex(lambda _: None), ("ns", "app"), 0.0)


class FakeSecrets:
    """kube.secrets.Secrets over a dict: (namespace, name) -> the Secret as the API would return it."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.refuse: errors.StashError | None = None  # raised by the next write

    async def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls["read"] += 1
        return self.stored.get((namespace, name))

    async def write(self, desired: secrets.DesiredSecret, owner: secrets.Owner, creation_policy: str,
                    existing: Any = secrets.UNREAD, hint: str = secrets.MERGE_HINT) -> bool:
        self.calls["write"] += 1
        if self.refuse is not None:
            raise self.refuse
        body = secrets.build_owned(desired, owner, with_owner_reference=creation_policy == "Owner")
        self.stored[(desired.namespace, desired.name)] = body
        return True

    def as_secrets(self) -> secrets.Secrets:
        return cast(secrets.Secrets, self)
