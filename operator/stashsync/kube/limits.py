"""What a Secret can hold, checked before a value is decrypted further or written."""

from __future__ import annotations

from stashsync.errors import TooLarge

MAX_SECRET_BYTES = 1024 * 1024  # a Secret holds at most 1 MiB in all


def check_fits(name: str, value: bytes) -> bytes:
    """`value` (of credential `name`), if a Secret can hold it."""
    if len(value) > MAX_SECRET_BYTES:
        raise TooLarge(f"credential {name!r} is {len(value)} bytes; a Secret holds at most {MAX_SECRET_BYTES}")
    return value
