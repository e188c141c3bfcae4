"""Build what a store spec gives its users (one place that knows every backend)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar, assert_never

from stashsync.api.stores import (
    CredstashProvider,
    ParameterStoreProvider,
    S3Provider,
    SecretsManagerProvider,
    StoreSpec,
    WrapProvider,
)
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.aws.threads import AwsWorkers
from stashsync.crypto.credstash import Algorithm
from stashsync.errors import StoreNotReady
from stashsync.sources.base import Source
from stashsync.sources.credstash import CredstashSource
from stashsync.sources.recent import RecentValues
from stashsync.sources.s3 import S3Source
from stashsync.sources.secretsmanager import SecretsManagerSource
from stashsync.sources.ssm import ParameterStoreSource
from stashsync.sources.wrap import DirectWrapService, LambdaWrapService, WrapService

T = TypeVar("T")


class StoreIdentity(NamedTuple):
    """Which store (its uid and generation) and which AWS session of it (a cluster store with a role
    has one per namespace): what a result shared between objects is keyed by, so that it is shared
    only between objects whose own read would have returned it."""

    store: str  # "<uid>/<generation>"
    session: str  # the namespace the session is made for, or ":operator" for the operator's own identity


UNNAMED = StoreIdentity("", "")  # a store built outside the operator (the CLI)


@dataclass(frozen=True)
class StoreHandle:
    """A resolved store: its spec, the AWS clients built for it (which also re-encrypt values and
    open a token's client layer), and what it serves: a source, or for wrap stores a wrap service."""

    spec: StoreSpec
    clients: AwsClients
    source: Source | None = None
    wrap: WrapService | None = None
    # Which store and session this is: what the shared version index keys checks by.
    identity: StoreIdentity = UNNAMED
    # The namespace the handle was resolved for ("" for the cluster admin's own work): whose share of
    # the AWS threads and of the store's request budget its calls take.
    tenant: str = ""
    # Values read through this handle moments ago, for syncs wanting the same version (sources/recent.py).
    recent: RecentValues = field(default_factory=RecentValues, compare=False, repr=False)

    def for_tenant(self, tenant: str) -> StoreHandle:
        """The same store, its calls made for `tenant`."""
        return self if tenant == self.tenant else StoreHandle(self.spec, self.clients, self.source, self.wrap,
                                                              self.identity, tenant, self.recent)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """A blocking call of this store's, made for its tenant (aws.clients.AwsClients.run)."""
        return await self.clients.run(self.tenant, fn, *args)

    async def run_long_poll(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.clients.run_long_poll(self.tenant, fn, *args)

    def reader(self) -> Source:
        """The source a SyncedSecret reads."""
        if self.source is None:
            raise StoreNotReady(f"store {self.spec.name!r} holds one-time wrap tokens; use it from a WrappedSecret")
        return self.source

    def wrap_service(self) -> WrapService:
        """The wrap service a WrappedSecret consumes its token through."""
        if self.wrap is None:
            raise StoreNotReady(f"store {self.spec.name!r} is not a wrap store; a WrappedSecret needs one")
        return self.wrap


def build_store(store: StoreSpec, auth: AwsAuth, identity: StoreIdentity = UNNAMED,
                workers: AwsWorkers | None = None) -> StoreHandle:
    clients = AwsClients(auth, workers)
    backend = store.backend
    if isinstance(backend, WrapProvider):
        wrap: WrapService = (LambdaWrapService(clients, backend.function_name) if backend.mode == "lambda"
                             else DirectWrapService(clients, backend.table, backend.kms_key_id))
        return StoreHandle(store, clients, wrap=wrap, identity=identity)
    return StoreHandle(store, clients, source=_source(backend, clients), identity=identity)


def _source(backend: CredstashProvider | S3Provider | SecretsManagerProvider | ParameterStoreProvider,
            clients: AwsClients) -> Source:
    if isinstance(backend, CredstashProvider):
        return CredstashSource(clients, table=backend.table, kms_key_id=backend.kms_key_id,
                               algorithm=Algorithm(backend.algorithm), allow_generate=backend.allow_generate)
    if isinstance(backend, S3Provider):
        return S3Source(clients, bucket=backend.bucket, prefix=backend.prefix, kms_key_id=backend.kms_key_id)
    if isinstance(backend, SecretsManagerProvider):
        return SecretsManagerSource(clients)
    if isinstance(backend, ParameterStoreProvider):
        return ParameterStoreSource(clients, path=backend.path)
    assert_never(backend)
