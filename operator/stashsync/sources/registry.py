"""Build the Source for a store spec (one place that knows every backend)."""

from __future__ import annotations

from stashsync.api.stores import StoreSpec
from stashsync.crypto.credstash import Algorithm
from stashsync.sources.aws import AwsAuth, AwsClients
from stashsync.sources.base import Source
from stashsync.sources.credstash import CredstashSource


def build_source(store: StoreSpec, auth: AwsAuth) -> Source:
    if store.credstash is not None:
        c = store.credstash
        return CredstashSource(AwsClients(auth), table=c.table, kms_key_id=c.kms_key_id,
                               algorithm=Algorithm(c.algorithm))
    raise ValueError(f"store {store.name!r} has no provider this operator knows")  # the CRD prevents it
