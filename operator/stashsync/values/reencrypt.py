"""Turn plaintext values into envelopes before they are written (spec.encryption)."""

from __future__ import annotations

import asyncio

from stashsync.api.encryption import EncryptionSpec
from stashsync.aws import kms_envelope
from stashsync.aws.clients import AwsClients
from stashsync.crypto import envelope


async def encrypt_values(data: dict[str, bytes], encryption: EncryptionSpec, clients: AwsClients, namespace: str,
                         secret: str) -> dict[str, bytes]:
    contexts = {k: envelope.context(namespace, secret, k) for k in data}
    if encryption.kms_key_id is not None:
        key_id = encryption.kms_key_id
        sealed = await asyncio.gather(*[clients.run(namespace, kms_envelope.encrypt, clients, key_id, value,
                                                    contexts[k]) for k, value in data.items()])
    else:  # CPU only, but up to hundreds of keys times 20 recipients: never on the event loop
        sealed = await clients.compute(namespace, _seal_age_all, data, list(encryption.recipients), contexts)
    return {k: text.encode() for k, text in zip(data, sealed, strict=True)}


def _seal_age_all(data: dict[str, bytes], recipients: list[str], contexts: dict[str, dict[str, str]]) -> list[str]:
    return [envelope.seal_age(value, recipients, contexts[k]) for k, value in data.items()]
