"""Re-encryption envelopes: what a pod's env holds instead of plaintext. Pure functions, no I/O.

KMS form: "stashsync:v1:" + base64url (no padding) of
    0x01 | len(wrapped key) as 2 bytes | KMS-wrapped data key | 12-byte nonce | AES-256-GCM ciphertext+tag
The data key is made by KMS under an encryption context {namespace, secret, key}; the same context
is the GCM associated data.

age form: "stashsync:age1:" + base64url of an age (X25519) file whose payload is the context as JSON,
a newline, then the value. The operator holds only recipients (public keys): it can encrypt, never
decrypt.

Either way the reader supplies the context from where it expects the value, so a value copied to
another Secret, key or namespace fails to open."""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass

import pyrage
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyrage import x25519

from stashsync.errors import StashError

PREFIX = "stashsync:v1:"
AGE_PREFIX = "stashsync:age1:"
VERSION = 1


class EnvelopeError(StashError):
    """Not an envelope, malformed, or it does not open under the given key and context."""

    reason = "InvalidSpec"  # in the operator: spec.encryption names unusable recipients


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
    return raw.startswith((PREFIX, AGE_PREFIX))


def is_age(text: str | bytes) -> bool:
    raw = text.decode(errors="replace") if isinstance(text, bytes) else text
    return raw.strip().startswith(AGE_PREFIX)


def _b64(blob: bytes) -> str:
    return base64.urlsafe_b64encode(blob).decode().rstrip("=")


def _unb64(body: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise EnvelopeError("the envelope is not valid base64") from None


def seal_age(plaintext: bytes, recipients: list[str], ctx: dict[str, str]) -> str:
    try:
        keys = [x25519.Recipient.from_str(r) for r in recipients]
    except Exception:
        raise EnvelopeError("an age recipient is not a valid X25519 public key (age1...)") from None
    return AGE_PREFIX + _b64(pyrage.encrypt(_aad(ctx) + b"\n" + plaintext, keys))


def open_age(text: str | bytes, identities: list[str], ctx: dict[str, str]) -> bytes:
    raw = (text.decode(errors="replace") if isinstance(text, bytes) else text).strip()
    if not raw.startswith(AGE_PREFIX):
        raise EnvelopeError(f"not an age envelope (expected the prefix {AGE_PREFIX!r})")
    try:
        keys = [x25519.Identity.from_str(i.strip()) for i in identities]
    except Exception:
        raise EnvelopeError("an age identity is not a valid X25519 secret key (AGE-SECRET-KEY-1...)") from None
    try:
        payload: bytes = pyrage.decrypt(_unb64(raw[len(AGE_PREFIX):]), keys)
    except Exception:
        raise EnvelopeError("the age envelope does not open with the given identities") from None
    header, sep, value = payload.partition(b"\n")
    if not sep or header != _aad(ctx):
        raise EnvelopeError("the envelope does not open: tampered, or for another secret, key or namespace")
    return value


def seal(plaintext: bytes, data_key: bytes, wrapped_key: bytes, ctx: dict[str, str],
         nonce: bytes | None = None) -> str:
    if len(data_key) != 32:
        raise EnvelopeError("the data key must be 32 bytes")
    nonce = nonce if nonce is not None else os.urandom(12)
    sealed = AESGCM(data_key).encrypt(nonce, plaintext, _aad(ctx))
    blob = bytes([VERSION]) + len(wrapped_key).to_bytes(2, "big") + wrapped_key + nonce + sealed
    return PREFIX + _b64(blob)


def parse(text: str | bytes) -> Envelope:
    raw = (text.decode(errors="replace") if isinstance(text, bytes) else text).strip()
    if not raw.startswith(PREFIX):
        raise EnvelopeError(f"not a stashsync envelope (expected the prefix {PREFIX!r})")
    blob = _unb64(raw[len(PREFIX):])
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
