"""Build the Source for a store spec (one place that knows every backend)."""

from __future__ import annotations

from stashsync.api.stores import (
    CredstashProvider,
    ParameterStoreProvider,
    S3Provider,
    SecretsManagerProvider,
    StoreSpec,
)
from stashsync.crypto.credstash import Algorithm
from stashsync.sources.aws import AwsAuth, AwsClients
from stashsync.sources.base import Source, StoreNotReady
from stashsync.sources.credstash import CredstashSource
from stashsync.sources.s3 import S3Source
from stashsync.sources.secretsmanager import SecretsManagerSource
from stashsync.sources.ssm import ParameterStoreSource
from stashsync.sources.wrap import DirectWrapService, LambdaWrapService, WrapService


def build_source(store: StoreSpec, auth: AwsAuth) -> Source:
    """The source a SyncedSecret reads: every provider but wrap."""
    settings = store.settings
    clients = AwsClients(auth)
    if isinstance(settings, CredstashProvider):
        return CredstashSource(clients, table=settings.table, kms_key_id=settings.kms_key_id,
                               algorithm=Algorithm(settings.algorithm), allow_generate=settings.allow_generate)
    if isinstance(settings, S3Provider):
        return S3Source(clients, bucket=settings.bucket, prefix=settings.prefix, kms_key_id=settings.kms_key_id)
    if isinstance(settings, SecretsManagerProvider):
        return SecretsManagerSource(clients)
    if isinstance(settings, ParameterStoreProvider):
        return ParameterStoreSource(clients, path=settings.path)
    raise StoreNotReady(f"store {store.name!r} holds one-time wrap tokens; use it from a WrappedSecret")


def build_wrap_service(store: StoreSpec, auth: AwsAuth) -> tuple[AwsClients, WrapService]:
    """The wrap service a WrappedSecret consumes its token through, and the clients for the client layer."""
    w = store.wrap
    if w is None:
        raise StoreNotReady(f"store {store.name!r} is not a wrap store; a WrappedSecret needs one")
    clients = AwsClients(auth)
    service: WrapService = (LambdaWrapService(clients, w.function_name) if w.mode == "lambda"
                            else DirectWrapService(clients, w.table, w.kms_key_id))
    return clients, service
