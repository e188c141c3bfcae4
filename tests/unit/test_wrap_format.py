"""awswrap's two Fernet layers, with vectors built from the published format."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.fernet import Fernet

from stashsync.crypto import wrap as fmt

CLIENT_KEY = bytes(range(32))
SERVICE_KEY = bytes(range(32, 64))


def test_client_layer_is_base64_of_a_fernet_token_under_b64encode_of_the_data_key() -> None:
    sealed = fmt.client_seal(b"hunter2", CLIENT_KEY)
    token = base64.b64decode(sealed)
    assert Fernet(base64.b64encode(CLIENT_KEY)).decrypt(token) == b"hunter2"
    assert fmt.client_open(sealed, CLIENT_KEY) == b"hunter2"


def test_service_layer_wraps_the_client_text() -> None:
    client_value = fmt.client_seal(b"v", CLIENT_KEY)
    stored = fmt.service_seal(client_value, SERVICE_KEY)
    assert Fernet(base64.b64encode(SERVICE_KEY)).decrypt(stored) == client_value.encode()
    assert fmt.service_open(stored, SERVICE_KEY) == client_value


def test_a_data_key_whose_standard_base64_has_plus_and_slash_opens_both_layers() -> None:
    # awswrap writes Fernet keys as standard base64; cryptography 51's Fernet refuses '+' and '/'.
    key = bytes([0xfb, 0xef, 0xff] * 10 + [0xfb, 0xef])
    assert set(base64.b64encode(key).decode()) == {"+", "/", "8", "="}
    client_value = fmt.client_seal(b"hunter2", key)
    assert fmt.client_open(client_value, key) == b"hunter2"
    assert fmt.service_open(fmt.service_seal(client_value, key), key) == client_value
    assert Fernet(base64.urlsafe_b64encode(key)).decrypt(base64.b64decode(client_value)) == b"hunter2"


@pytest.mark.parametrize("layer", ["client", "service"])
def test_tampered_or_wrong_key_layers_are_integrity_errors(layer: str) -> None:
    client_value = fmt.client_seal(b"v", CLIENT_KEY)
    with pytest.raises(fmt.WrapIntegrityError):
        if layer == "client":
            raw = bytearray(base64.b64decode(client_value))
            raw[-1] ^= 1
            fmt.client_open(base64.b64encode(bytes(raw)).decode(), CLIENT_KEY)
        else:
            fmt.service_open(fmt.service_seal(client_value, SERVICE_KEY), CLIENT_KEY)
    with pytest.raises(fmt.WrapIntegrityError):
        fmt.client_open("not base64 !!", CLIENT_KEY)


def test_tokens_look_like_awswrap_tokens_and_hash_stably() -> None:
    token = fmt.new_token()
    assert len(token) == 171 and token != fmt.new_token()
    assert fmt.token_sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_json_objects_become_keys_and_everything_else_one_key() -> None:
    assert fmt.secret_data(json.dumps({"user": "u", "port": 5432}).encode(), "value") == {
        "user": b"u", "port": b"5432"}
    assert fmt.secret_data(b"plain", "value") == {"value": b"plain"}
    assert fmt.secret_data(b"[1, 2]", "v") == {"v": b"[1, 2]"}
    assert fmt.secret_data(b'{"bad key": "x"}', "v") == {"v": b'{"bad key": "x"}'}


def test_new_tokens_never_start_with_a_dash() -> None:
    from stashsync.crypto.wrap import new_token

    tokens = [new_token() for _ in range(2000)]  # about 31 of these would start with '-' if drawn once
    assert all(len(t) == 171 and not t.startswith("-") for t in tokens)


def test_a_dash_token_on_the_command_line_is_taken_as_the_token() -> None:
    from stashsync.cli.main import shield_tokens

    dashed = "-" + "A" * 170
    assert shield_tokens(["unwrap", dashed, "--table", "t"]) == ["unwrap", "--table", "t", "--", dashed]
    assert shield_tokens(["unwrap", "--table", "t", dashed]) == ["unwrap", "--table", "t", "--", dashed]
    assert shield_tokens(["unwrap", "--", dashed]) == ["unwrap", "--", dashed]  # already shielded
    assert shield_tokens(["unwrap", "--mode", "lambda", "x"]) == ["unwrap", "--mode", "lambda", "x"]
    assert shield_tokens(["get", "-" + "A" * 170]) == ["get", "-" + "A" * 170]  # only after `unwrap`


@pytest.mark.parametrize(("reasons", "transient"), [
    ([{"Code": "ConditionalCheckFailed"}, {"Code": "None"}], None),
    ([{"Code": "None"}, {"Code": "TransactionConflict"}], "TransactionConflict"),
    ([{"Code": "ThrottlingError"}, {"Code": "None"}], "ThrottlingError"),
    ([{"Code": "ConditionalCheckFailed"}, {"Code": "ProvisionedThroughputExceeded"}], "ProvisionedThroughputExceeded"),
    ([], None),
])
def test_only_failed_conditions_make_a_cancelled_consumption_final(reasons: list[dict[str, str]],
                                                                   transient: str | None) -> None:
    from stashsync.sources.wrap import transient_cancellation

    # botocore puts the reasons at the top of the error response; some versions under Error.
    assert transient_cancellation({"Error": {"Code": "TransactionCanceledException"},
                                   "CancellationReasons": reasons}) == transient
    assert transient_cancellation({"Error": {"Code": "TransactionCanceledException",
                                             "CancellationReasons": reasons}}) == transient
