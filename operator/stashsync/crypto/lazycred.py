"""lazycred 0.2.3 object format: pure functions, no I/O.

Body: JSON {"data": <Fernet token>, "key": base64(KMS Encrypt of the 44-character Fernet key text)}.
No encryption context. The KMS step (decrypting `key`) happens in the source; this module only
parses, seals and opens with the Fernet key text."""

from __future__ import annotations

import base64
import binascii
import json

from cryptography.fernet import Fernet, InvalidToken

from stashsync.errors import StashError


class FormatError(StashError):
    """The object is not a lazycred blob."""

    reason = "IntegrityError"


class IntegrityError(StashError):
    """The Fernet token failed to authenticate: tampered data or a different key."""

    reason = "IntegrityError"


def parse(body: bytes) -> tuple[bytes, bytes]:
    """(KMS ciphertext blob of the Fernet key, Fernet token)."""
    try:
        doc = json.loads(body)
        key, data = doc["key"], doc["data"]
        if not isinstance(key, str) or not isinstance(data, str):
            raise TypeError("key and data must be strings")
        return base64.b64decode(key, validate=True), data.encode()
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise FormatError(f"not a lazycred object ({type(exc).__name__})") from None


def open_token(fernet_key: bytes, token: bytes) -> bytes:
    try:
        return Fernet(fernet_key).decrypt(token)
    except (InvalidToken, ValueError, binascii.Error):
        raise IntegrityError("the Fernet token failed to authenticate") from None


def new_key() -> bytes:
    """A Fernet key as lazycred makes it: 44 characters of urlsafe base64."""
    return Fernet.generate_key()


def seal(value: bytes, fernet_key: bytes, kms_blob: bytes) -> bytes:
    """The object body for `value`, given the Fernet key and its KMS encryption."""
    return json.dumps({"key": base64.b64encode(kms_blob).decode(),
                       "data": Fernet(fernet_key).encrypt(value).decode()}).encode()
