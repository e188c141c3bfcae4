"""Keyed MACs over Secret data: drift detection and restart annotations without an unkeyed hash
of secret values anywhere (an unkeyed hash of a short password is a guessable fingerprint)."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "hmac-sha256:"


def data_mac(key: bytes, data: dict[str, bytes]) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for name in sorted(data):
        value = data[name]
        # Length-prefixed so that {"ab": "c"} and {"a": "bc"} never collide.
        for part in (name.encode(), value):
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
    return PREFIX + mac.hexdigest()


def matches(key: bytes, data: dict[str, bytes], expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(data_mac(key, data), expected)
