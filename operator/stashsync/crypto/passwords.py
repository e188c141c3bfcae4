"""Random credential values (spec.data[].generate). Pure: os-level randomness only."""

from __future__ import annotations

import secrets
import string

CHARSETS = {
    "alphanumeric": string.ascii_letters + string.digits,
    "ascii": string.ascii_letters + string.digits + "!#$%&()*+,-./:;<=>?@[]^_{|}~",  # printable, no quotes or \\
    "hex": "0123456789abcdef",
}


def generate(length: int, charset: str) -> bytes:
    alphabet = CHARSETS[charset]
    return "".join(secrets.choice(alphabet) for _ in range(length)).encode()
