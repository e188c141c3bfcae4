"""credstash / credsmash item formats: seal and open, pure functions, no I/O.

Formats, as credstash 1.17.1 and credsmash 3.0.2 write them (tests/integration/test_interop.py runs both):
- credstash 1.17 ("legacy"): 64-byte KMS data key, bytes 0-31 AES-256 key, 32-63 HMAC key;
  AES-256-CTR with initial counter block 00..01; HMAC over the ciphertext, stored as lowercase
  hex text (Binary in 1.17, String in older releases); `key`/`contents` base64 Strings.
- credsmash `aes-ctr`: same split key, random 16-byte `nonce` as the counter block, raw Binary
  attributes, `hmac` the raw digest.
- credsmash `aes-gcm`: 32-byte data key, 12-byte `iv`, 16-byte `tag`, no associated data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac as hmac_mod
import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stashsync.errors import StashError

VERSION_WIDTH = 19  # credstash pads versions to 19 digits so that they sort as strings
CREDSTASH_COUNTER = (1).to_bytes(16, "big")
DIGESTS = {"SHA": "sha1", "SHA224": "sha224", "SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512",
           "MD5": "md5"}


class Algorithm(StrEnum):
    CREDSTASH = "credstash"  # no `algorithm` attribute: credstash 1.17 / credsmash legacy
    AES_CTR = "aes-ctr"
    AES_GCM = "aes-gcm"


class IntegrityError(StashError):
    """The item's MAC or tag does not match: tampered, truncated, or the wrong data key."""

    reason = "IntegrityError"


class FormatError(StashError):
    """The item is not in any format we know (missing or malformed attributes)."""

    reason = "IntegrityError"


@dataclass(frozen=True)
class SealedItem:
    """Attributes to store beside name/version, plain Python values (str or bytes)."""

    attributes: dict[str, str | bytes]


def pad_version(version: int | str) -> str:
    text = str(version)
    if not text.isdigit():
        raise ValueError(f"version must be a non-negative integer, got {text!r}")
    return text.zfill(VERSION_WIDTH)


def data_key_bytes(algorithm: Algorithm) -> int:
    """NumberOfBytes to ask KMS GenerateDataKey for."""
    return 32 if algorithm is Algorithm.AES_GCM else 64


def detect_algorithm(item: dict[str, Any]) -> Algorithm:
    raw = item.get("algorithm")
    if raw is None:
        return Algorithm.CREDSTASH
    name = _text(raw)
    try:
        return Algorithm(name)
    except ValueError:
        raise FormatError(f"unknown algorithm {name!r}") from None


def wrapped_key(item: dict[str, Any]) -> bytes:
    """The KMS ciphertext blob of the item's data key."""
    if detect_algorithm(item) is Algorithm.CREDSTASH:
        return _b64(_required(item, "key"))
    return _bytes(_required(item, "key"))


def seal(plaintext: bytes, data_key: bytes, wrapped: bytes, algorithm: Algorithm = Algorithm.CREDSTASH,
         digest: str = "SHA256", nonce: bytes | None = None) -> SealedItem:
    """Encrypt `plaintext` under a KMS data key into the attributes of a table item."""
    digest = digest.upper()
    if algorithm is Algorithm.AES_GCM:
        _check_len(data_key, 32)
        iv = nonce if nonce is not None else os.urandom(12)
        sealed = AESGCM(data_key).encrypt(iv, plaintext, None)
        return SealedItem({"algorithm": algorithm.value, "key": wrapped, "contents": sealed[:-16],
                           "iv": iv, "tag": sealed[-16:]})
    _check_len(data_key, 64)
    hash_name = _hash_name(digest)
    aes_key, mac_key = data_key[:32], data_key[32:]
    if algorithm is Algorithm.CREDSTASH:
        ciphertext = _ctr(aes_key, CREDSTASH_COUNTER, plaintext)
        mac = hmac_mod.new(mac_key, ciphertext, hash_name).hexdigest().encode()
        return SealedItem({"key": base64.b64encode(wrapped).decode(),
                           "contents": base64.b64encode(ciphertext).decode(), "hmac": mac, "digest": digest})
    counter = nonce if nonce is not None else os.urandom(16)
    ciphertext = _ctr(aes_key, counter, plaintext)
    mac = hmac_mod.new(mac_key, ciphertext, hash_name).digest()
    return SealedItem({"algorithm": algorithm.value, "key": wrapped, "contents": ciphertext, "hmac": mac,
                       "nonce": counter, "digest": digest})


def open_item(item: dict[str, Any], data_key: bytes) -> bytes:
    """Verify (constant time, before decrypting) and decrypt a table item with its plaintext data key."""
    algorithm = detect_algorithm(item)
    if algorithm is Algorithm.AES_GCM:
        _check_len(data_key, 32)
        iv, tag = _bytes(_required(item, "iv")), _bytes(_required(item, "tag"))
        contents = _bytes(_required(item, "contents"))
        if len(iv) != 12 or len(tag) != 16:  # what credsmash writes; anything else is damage
            raise FormatError(f"aes-gcm needs a 12-byte iv and a 16-byte tag, not {len(iv)} and {len(tag)}")
        try:
            return AESGCM(data_key).decrypt(iv, contents + tag, None)
        except InvalidTag:
            raise IntegrityError("AES-GCM tag does not match") from None
    _check_len(data_key, 64)
    hash_name = _hash_name(_text(item.get("digest", "SHA256")))
    aes_key, mac_key = data_key[:32], data_key[32:]
    if algorithm is Algorithm.CREDSTASH:
        ciphertext = _b64(_required(item, "contents"))
        counter = CREDSTASH_COUNTER
        expected = hmac_mod.new(mac_key, ciphertext, hash_name).hexdigest().encode()
        stored = _bytes(_required(item, "hmac")).lower()
    else:
        ciphertext = _bytes(_required(item, "contents"))
        counter = _bytes(_required(item, "nonce"))
        expected = hmac_mod.new(mac_key, ciphertext, hash_name).digest()
        stored = _bytes(_required(item, "hmac"))
    if not hmac_mod.compare_digest(expected, stored):
        raise IntegrityError("HMAC does not match the contents")
    if len(counter) != 16:
        raise FormatError("nonce must be 16 bytes")
    return _ctr(aes_key, counter, ciphertext)


def _ctr(key: bytes, counter: bytes, data: bytes) -> bytes:
    ctx = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    return ctx.update(data) + ctx.finalize()


def _hash_name(digest: str) -> str:
    try:
        name = DIGESTS[digest.upper()]
    except KeyError:
        raise FormatError(f"unknown digest {digest!r}") from None
    hashlib.new(name)  # fail early if the platform lacks it
    return name


def _required(item: dict[str, Any], attribute: str) -> Any:
    if attribute not in item:
        raise FormatError(f"item has no {attribute!r} attribute")
    return item[attribute]


def _bytes(value: Any) -> bytes:
    # boto3's resource layer hands Binary as boto3.dynamodb.types.Binary (has .value); str for S.
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    inner = getattr(value, "value", None)
    if isinstance(inner, bytes | bytearray):
        return bytes(inner)
    raise FormatError(f"expected binary or string, got {type(value).__name__}")


def _text(value: Any) -> str:
    return _bytes(value).decode()


def _b64(value: Any) -> bytes:
    try:
        return base64.b64decode(_bytes(value), validate=True)
    except ValueError:
        raise FormatError("attribute is not valid base64") from None


def _check_len(key: bytes, n: int) -> None:
    if len(key) != n:
        raise FormatError(f"data key must be {n} bytes, got {len(key)}")
