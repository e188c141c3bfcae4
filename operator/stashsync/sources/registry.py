"""Build the Source for a store spec (one place that knows every backend)."""

from __future__ import annotations

from stashsync.api.stores import StoreSpec
from stashsync.crypto.credstash import Algorithm
from stashsync.sources.aws import AwsAuth, AwsClients
from stashsync.sources.base import Source, StoreNotReady
from stashsync.sources.credstash import CredstashSource
from stashsync.sources.wrap import DirectWrapService, LambdaWrapService, WrapService


def build_source(store: StoreSpec, auth: AwsAuth) -> Source:
    """The source a SyncedSecret reads: every provider but wrap."""
    if store.credstash is not None:
        c = store.credstash
        return CredstashSource(AwsClients(auth), table=c.table, kms_key_id=c.kms_key_id,
                               algorithm=Algorithm(c.algorithm))
    raise StoreNotReady(f"store {store.name!r} holds one-time wrap tokens; use it from a WrappedSecret")


def build_wrap_service(store: StoreSpec, auth: AwsAuth) -> tuple[AwsClients, WrapService]:
    """The wrap service a WrappedSecret consumes its token through, and the clients for the client layer."""
    if store.wrap is None:
        raise StoreNotReady(f"store {store.name!r} is not a wrap store; a WrappedSecret needs one")
    clients = AwsClients(auth)
    w = store.wrap
    service: WrapService = (LambdaWrapService(clients, w.function_name) if w.mode == "lambda"
                            else DirectWrapService(clients, w.table, w.kms_key_id))
    return clients, service
