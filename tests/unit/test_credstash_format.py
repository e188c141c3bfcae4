"""credstash/credsmash item formats against vectors built from the published algorithm."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stashsync.crypto import credstash as fmt

KEY64 = bytes(range(64))
KEY32 = bytes(range(100, 132))
WRAPPED = b"kms-ciphertext-blob"
PLAIN = b"correct horse battery staple"


def _ctr(key: bytes, counter: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    return enc.update(data) + enc.finalize()


def credstash_117_item(digest: str = "SHA256", hmac_as_binary: bool = True) -> dict[str, object]:
    """What credstash 1.17 writes, computed here independently of the module under test."""
    ciphertext = _ctr(KEY64[:32], b"\x00" * 15 + b"\x01", PLAIN)
    name = {"SHA": "sha1", "MD5": "md5"}.get(digest, digest.lower())
    mac_hex = hmac.new(KEY64[32:], ciphertext, name).hexdigest()
    return {"name": "n", "version": "0000000000000000001", "key": base64.b64encode(WRAPPED).decode(),
            "contents": base64.b64encode(ciphertext).decode(),
            "hmac": mac_hex.encode() if hmac_as_binary else mac_hex, "digest": digest}


def test_known_vector_for_credstash_aes_ctr_with_counter_one() -> None:
    # AES-256-CTR, key 00..1f, IV 00..01 over 16 zero bytes: first keystream block, checked by hand once.
    assert _ctr(bytes(range(32)), b"\x00" * 15 + b"\x01", b"\x00" * 16).hex() == fmt._ctr(
        bytes(range(32)), fmt.CREDSTASH_COUNTER, b"\x00" * 16).hex()
    assert len(fmt.pad_version(7)) == 19 and fmt.pad_version(7) == "0000000000000000007"


@pytest.mark.parametrize("digest", sorted(fmt.DIGESTS))
@pytest.mark.parametrize("hmac_as_binary", [True, False], ids=["hmac-B-hex-1.17", "hmac-S-hex-older"])
def test_reads_what_credstash_117_writes(digest: str, hmac_as_binary: bool) -> None:
    item = credstash_117_item(digest, hmac_as_binary)
    assert fmt.detect_algorithm(item) is fmt.Algorithm.CREDSTASH
    assert fmt.wrapped_key(item) == WRAPPED
    assert fmt.open_item(item, KEY64) == PLAIN


def test_writes_what_credstash_117_reads() -> None:
    sealed = fmt.seal(PLAIN, KEY64, WRAPPED).attributes
    expected = credstash_117_item()
    assert sealed["contents"] == expected["contents"]
    assert sealed["hmac"] == expected["hmac"]  # bytes of lowercase hex text, stored as B
    assert sealed["key"] == expected["key"] and sealed["digest"] == "SHA256"
    assert "algorithm" not in sealed


def test_reads_credsmash_aes_ctr_with_random_nonce() -> None:
    nonce = bytes(range(200, 216))
    ciphertext = _ctr(KEY64[:32], nonce, PLAIN)
    item = {"algorithm": "aes-ctr", "key": WRAPPED, "contents": ciphertext, "nonce": nonce,
            "hmac": hmac.new(KEY64[32:], ciphertext, hashlib.sha256).digest(), "digest": "SHA256"}
    assert fmt.open_item(item, KEY64) == PLAIN
    assert fmt.seal(PLAIN, KEY64, WRAPPED, fmt.Algorithm.AES_CTR, nonce=nonce).attributes == item


def test_reads_credsmash_aes_gcm() -> None:
    iv = bytes(range(12))
    sealed = AESGCM(KEY32).encrypt(iv, PLAIN, None)
    item = {"algorithm": "aes-gcm", "key": WRAPPED, "contents": sealed[:-16], "iv": iv, "tag": sealed[-16:]}
    assert fmt.open_item(item, KEY32) == PLAIN
    assert fmt.seal(PLAIN, KEY32, WRAPPED, fmt.Algorithm.AES_GCM, nonce=iv).attributes == item
    assert fmt.data_key_bytes(fmt.Algorithm.AES_GCM) == 32


def test_tampered_credstash_contents_fail_the_hmac_before_decrypting() -> None:
    item = credstash_117_item()
    raw = bytearray(base64.b64decode(str(item["contents"])))
    raw[0] ^= 1
    item["contents"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(fmt.IntegrityError):
        fmt.open_item(item, KEY64)


@pytest.mark.parametrize("field", ["contents", "tag", "iv"])
def test_tampered_gcm_items_are_rejected(field: str) -> None:
    item = dict(fmt.seal(PLAIN, KEY32, WRAPPED, fmt.Algorithm.AES_GCM).attributes)
    value = bytearray(item[field])  # type: ignore[arg-type]
    value[-1] ^= 0x80
    item[field] = bytes(value)
    with pytest.raises(fmt.IntegrityError):
        fmt.open_item(item, KEY32)


def test_wrong_data_key_is_an_integrity_error() -> None:
    with pytest.raises(fmt.IntegrityError):
        fmt.open_item(credstash_117_item(), bytes(64))


def test_truncated_and_malformed_items_are_format_errors() -> None:
    item = credstash_117_item()
    del item["hmac"]
    with pytest.raises(fmt.FormatError):
        fmt.open_item(item, KEY64)
    with pytest.raises(fmt.FormatError):
        fmt.detect_algorithm({"algorithm": "rot13"})
    with pytest.raises(fmt.FormatError):
        fmt.open_item({**credstash_117_item(), "digest": "WHIRLPOOL"}, KEY64)
    with pytest.raises(ValueError):
        fmt.pad_version("1a")
