"""Keyed MACs over Secret data: drift detection and restart annotations without an unkeyed hash
of secret values anywhere (an unkeyed hash of a short password is a guessable fingerprint).

Each object MACs with its own key, derived from the operator's key and the object's uid: a tenant
whose template writes a literal guess would otherwise publish HMAC(K, guess) in its status, and
anyone who can read a victim's status or pod template could compare the two. MACs made with the
operator's key itself (before per-object keys) are still recognised, so upgrading restarts nothing.
"""

from __future__ import annotations

import hashlib
import hmac

LEGACY_PREFIX = "hmac-sha256:"  # keyed with the operator's key itself
PREFIX = "hmac-sha256-o:"  # keyed with the object's own key


def object_key(main_key: bytes, uid: str) -> bytes:
    return hmac.new(main_key, b"stashsync.dev/object-mac-key\0" + uid.encode(), hashlib.sha256).digest()


def _digest(key: bytes, data: dict[str, bytes]) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for name in sorted(data):
        value = data[name]
        # Length-prefixed so that {"ab": "c"} and {"a": "bc"} never collide.
        for part in (name.encode(), value):
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
    return mac.hexdigest()


def data_mac(main_key: bytes, uid: str, data: dict[str, bytes]) -> str:
    return PREFIX + _digest(object_key(main_key, uid), data)


def matches(main_key: bytes, uid: str, data: dict[str, bytes], expected: str | None) -> bool:
    if expected is None:
        return False
    if expected.startswith(LEGACY_PREFIX):
        return hmac.compare_digest(LEGACY_PREFIX + _digest(main_key, data), expected)
    return hmac.compare_digest(data_mac(main_key, uid, data), expected)
