"""aws-secrets-wrapper 0.1.3 (awswrap) value format: two Fernet layers, pure functions, no I/O.

Client layer: a KMS AES_256 data key; Fernet key = the 32 bytes (awswrap hands them to Fernet as
standard base64, we as urlsafe base64: the same key, and the form cryptography >= 51 requires); the
stored `value` starts as base64 of the client's Fernet token. Service layer: another data key from
the service's KMS key; the item's `value` is the service Fernet token over that base64 text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets

from cryptography.fernet import Fernet, InvalidToken

from stashsync.errors import StashError

PK = "WRAPPED_SECRET"
TOKEN_BYTES = 128  # token_urlsafe(128): 171 characters
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


class WrapIntegrityError(StashError):
    """A layer failed to authenticate: tampered value or the wrong data key."""

    reason = "IntegrityError"


def new_token() -> str:
    """awswrap's token_urlsafe(128); one starting with '-' is drawn again, since a command line
    would read it as an option (`stashsync unwrap -abc...`)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    while token.startswith("-"):
        token = secrets.token_urlsafe(TOKEN_BYTES)
    return token


# What a token looks like on a command line: token_urlsafe output, far longer than any option.
_TOKEN_SHAPE = re.compile(r"^[-_A-Za-z0-9]{64,}$")


def looks_like_token(argument: str) -> bool:
    return bool(_TOKEN_SHAPE.match(argument))


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _fernet(data_key: bytes) -> Fernet:
    if len(data_key) != 32:
        raise WrapIntegrityError(f"data key must be 32 bytes, got {len(data_key)}")
    return Fernet(base64.urlsafe_b64encode(data_key))


def client_seal(plaintext: bytes, client_data_key: bytes) -> str:
    """The client layer, as awswrap's CLI sends it: base64 text of a Fernet token."""
    return base64.b64encode(_fernet(client_data_key).encrypt(plaintext)).decode()


def client_open(client_value: str | bytes, client_data_key: bytes) -> bytes:
    try:
        token = base64.b64decode(client_value, validate=True)
        return _fernet(client_data_key).decrypt(token)
    except (InvalidToken, binascii.Error, ValueError):
        raise WrapIntegrityError("client layer failed to authenticate") from None


def service_seal(client_value: str, service_data_key: bytes) -> bytes:
    """The service layer over the client layer's text, stored as the item's `value` (B)."""
    return _fernet(service_data_key).encrypt(client_value.encode())


def service_open(value: bytes, service_data_key: bytes) -> str:
    try:
        return _fernet(service_data_key).decrypt(value).decode()
    except (InvalidToken, UnicodeDecodeError):
        raise WrapIntegrityError("service layer failed to authenticate") from None


def secret_data(plaintext: bytes, default_key: str) -> dict[str, bytes]:
    """A JSON object becomes one key per property (non-string values as JSON); anything else one key."""
    try:
        parsed = json.loads(plaintext)
    except (ValueError, UnicodeDecodeError):
        return {default_key: plaintext}
    if not isinstance(parsed, dict) or not parsed or not all(_SECRET_KEY.match(str(k)) for k in parsed):
        return {default_key: plaintext}
    return {str(k): (v if isinstance(v, str) else json.dumps(v)).encode() for k, v in parsed.items()}
