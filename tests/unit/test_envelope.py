"""Re-encryption envelopes: format, context binding, tampering."""

from __future__ import annotations

import pytest

from stashsync.crypto import envelope

KEY = bytes(range(32))
CTX = envelope.context("ns", "app-db", "password")


def test_round_trip_and_recognisable_prefix() -> None:
    text = envelope.seal(b"s3cr3t", KEY, b"wrapped-by-kms", CTX)
    assert text.startswith("stashsync:v1:") and envelope.is_envelope(text) and "s3cr3t" not in text
    parsed = envelope.parse(text)
    assert parsed.wrapped_key == b"wrapped-by-kms" and len(parsed.nonce) == 12
    assert envelope.open_envelope(parsed, KEY, CTX) == b"s3cr3t"


@pytest.mark.parametrize("other", [envelope.context("other-ns", "app-db", "password"),
                                   envelope.context("ns", "copy", "password"),
                                   envelope.context("ns", "app-db", "user")])
def test_a_value_opened_for_another_secret_key_or_namespace_fails(other: dict[str, str]) -> None:
    parsed = envelope.parse(envelope.seal(b"v", KEY, b"w", CTX))
    with pytest.raises(envelope.EnvelopeError, match="another secret"):
        envelope.open_envelope(parsed, KEY, other)


def test_tampered_truncated_and_foreign_texts_are_rejected() -> None:
    text = envelope.seal(b"value", KEY, b"w", CTX)
    flipped = text[:-3] + ("A" if text[-3] != "A" else "B") + text[-2:]
    with pytest.raises(envelope.EnvelopeError):
        envelope.open_envelope(envelope.parse(flipped), KEY, CTX)
    for bad in ["plain", "stashsync:v1:", "stashsync:v1:!!!", "stashsync:v1:AQAB"]:
        with pytest.raises(envelope.EnvelopeError):
            envelope.parse(bad)


def test_age_envelopes_open_only_with_the_identity_and_the_right_context() -> None:
    from pyrage import x25519

    identity = x25519.Identity.generate()
    text = envelope.seal_age(b"age-secret", [str(identity.to_public())], CTX)
    assert text.startswith("stashsync:age1:") and envelope.is_envelope(text) and envelope.is_age(text)
    assert envelope.open_age(text, [str(identity)], CTX) == b"age-secret"
    with pytest.raises(envelope.EnvelopeError, match="another secret"):
        envelope.open_age(text, [str(identity)], envelope.context("ns", "copy", "password"))
    with pytest.raises(envelope.EnvelopeError, match="does not open with the given identities"):
        envelope.open_age(text, [str(x25519.Identity.generate())], CTX)
    with pytest.raises(envelope.EnvelopeError, match="not a valid X25519 public key"):
        envelope.seal_age(b"x", ["age1notakey"], CTX)


def test_encryption_spec_needs_exactly_one_kind_and_real_recipients() -> None:
    from pyrage import x25519

    from stashsync.api.encryption import parse_encryption
    from stashsync.errors import SpecError

    r = str(x25519.Identity.generate().to_public())
    assert parse_encryption({"encryption": {"recipient": r}}).recipients == (r,)  # type: ignore[union-attr]
    assert parse_encryption({"encryption": {"kms": {"keyId": "alias/k"}}}).kms_key_id == "alias/k"  # type: ignore[union-attr]
    assert parse_encryption({}) is None
    with pytest.raises(SpecError, match="exactly one"):
        parse_encryption({"encryption": {"kms": {"keyId": "k"}, "recipient": r}})
    with pytest.raises(SpecError, match="not age X25519"):
        parse_encryption({"encryption": {"recipients": ["age1bad"]}})
