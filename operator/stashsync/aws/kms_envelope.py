"""KMS calls for re-encryption envelopes (formats: crypto.envelope): one data key per value."""

from __future__ import annotations

from stashsync.aws.clients import AwsClients, translate_errors
from stashsync.crypto import envelope as fmt


def encrypt(clients: AwsClients, key_id: str, plaintext: bytes, ctx: dict[str, str]) -> str:
    with translate_errors(f"KMS key {key_id!r} (re-encryption)"):
        dk = clients.client("kms").generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=ctx)
    return fmt.seal(plaintext, dk["Plaintext"], dk["CiphertextBlob"], ctx)


def decrypt(clients: AwsClients, text: str | bytes, ctx: dict[str, str]) -> bytes:
    """Raises fmt.EnvelopeError for a malformed envelope, errors.ContextMismatch when KMS refuses the
    context (copied elsewhere), errors.AccessDenied when this identity may not decrypt."""
    envelope = fmt.parse(text)
    with translate_errors("the envelope's data key"):
        data_key = clients.client("kms").decrypt(CiphertextBlob=envelope.wrapped_key, EncryptionContext=ctx)
    return fmt.open_envelope(envelope, data_key["Plaintext"], ctx)

