"""Re-encryption envelopes: what a pod's env holds instead of plaintext. Pure functions, no I/O.

Text form: "stashsync:v1:" + base64url (no padding) of
    0x01 | len(wrapped key) as 2 bytes | KMS-wrapped data key | 12-byte nonce | AES-256-GCM ciphertext+tag
The data key is made by KMS under an encryption context {namespace, secret, key}; the same context
is the GCM associated data. The reader supplies the context from where it expects the value, so a
value copied to another Secret, key or namespace fails to open."""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "stashsync:v1:"
VERSION = 1


class EnvelopeError(Exception):
    """Not an envelope, malformed, or it does not open under the given key and context."""


@dataclass(frozen=True)
class Envelope:
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes


def context(namespace: str, secret: str, key: str) -> dict[str, str]:
    return {"stashsync.dev/namespace": namespace, "stashsync.dev/secret": secret, "stashsync.dev/key": key}


def _aad(ctx: dict[str, str]) -> bytes:
    return json.dumps(ctx, sort_keys=True, separators=(",", ":")).encode()


def is_envelope(text: str | bytes) -> bool:
    raw = text.decode(errors="replace") if isinstance(text, bytes) else text
    return raw.startswith(PREFIX)


def seal(plaintext: bytes, data_key: bytes, wrapped_key: bytes, ctx: dict[str, str],
         nonce: bytes | None = None) -> str:
    if len(data_key) != 32:
        raise EnvelopeError("the data key must be 32 bytes")
    nonce = nonce if nonce is not None else os.urandom(12)
    sealed = AESGCM(data_key).encrypt(nonce, plaintext, _aad(ctx))
    blob = bytes([VERSION]) + len(wrapped_key).to_bytes(2, "big") + wrapped_key + nonce + sealed
    return PREFIX + base64.urlsafe_b64encode(blob).decode().rstrip("=")


def parse(text: str | bytes) -> Envelope:
    raw = (text.decode(errors="replace") if isinstance(text, bytes) else text).strip()
    if not raw.startswith(PREFIX):
        raise EnvelopeError(f"not a stashsync envelope (expected the prefix {PREFIX!r})")
    body = raw[len(PREFIX):]
    try:
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise EnvelopeError("the envelope is not valid base64") from None
    if len(blob) < 3 or blob[0] != VERSION:
        raise EnvelopeError("unknown envelope version")
    key_len = int.from_bytes(blob[1:3], "big")
    if len(blob) < 3 + key_len + 12 + 16:
        raise EnvelopeError("the envelope is truncated")
    wrapped = blob[3:3 + key_len]
    return Envelope(wrapped_key=wrapped, nonce=blob[3 + key_len:15 + key_len], ciphertext=blob[15 + key_len:])


def open_envelope(envelope: Envelope, data_key: bytes, ctx: dict[str, str]) -> bytes:
    try:
        return AESGCM(data_key).decrypt(envelope.nonce, envelope.ciphertext, _aad(ctx))
    except (InvalidTag, ValueError):
        raise EnvelopeError("the envelope does not open: tampered, or for another secret, key or namespace") \
            from None
