"""Property-based tests (hypothesis): schema-valid garbage never crashes spec parsing, and tampered
or truncated ciphertext in every format we read never opens to anything but the original value."""

from __future__ import annotations

import base64
import contextlib
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stashsync.api import API_VERSION
from stashsync.api.stores import parse_store
from stashsync.api.syncedsecret import parse_synced_secret
from stashsync.api.wrappedsecret import parse_wrapped_secret
from stashsync.crypto import credstash, envelope, lazycred, wrap
from stashsync.errors import SpecError

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(min_size=0, max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), text)
string_maps = st.dictionaries(text, text, max_size=3)
durations = st.sampled_from(["0", "1s", "30s", "15m", "1h", "2.5h", "1d", "5ms", "1500ms"])

data_entry = st.fixed_dictionaries({"key": st.from_regex(r"[-._a-zA-Z0-9]{1,10}", fullmatch=True), "name": text},
                                   optional={"version": st.one_of(text, st.from_regex(r"[0-9]{1,4}", fullmatch=True)),
                                             "property": text, "context": string_maps,
                                             "generate": st.fixed_dictionaries({}, optional={
                                                 "length": st.integers(8, 4096),
                                                 "charset": st.sampled_from(["alphanumeric", "ascii", "hex"]),
                                                 "rotateEvery": durations, "keep": st.integers(1, 100)})})
synced_spec = st.fixed_dictionaries(
    {"storeRef": st.fixed_dictionaries({"name": text}, optional={
        "kind": st.sampled_from(["CredentialStore", "ClusterCredentialStore"])})},
    optional={
        "data": st.lists(data_entry, max_size=4),
        "dataFrom": st.lists(st.fixed_dictionaries({"find": text}, optional={"tags": string_maps,
                                                                             "context": string_maps}), max_size=2),
        "refreshInterval": durations,
        "target": st.fixed_dictionaries({}, optional={
            "name": text, "type": text, "labels": string_maps, "annotations": string_maps,
            "creationPolicy": st.sampled_from(["Owner", "Orphan", "Merge"]),
            "deletionPolicy": st.sampled_from(["Delete", "Retain"]),
            "template": st.fixed_dictionaries({}, optional={"data": string_maps,
                                                            "mergePolicy": st.sampled_from(["Replace", "Merge"])})}),
        "rolloutRestartTargets": st.lists(st.fixed_dictionaries({}, optional={
            "kind": st.sampled_from(["Deployment", "StatefulSet", "DaemonSet"]), "name": text,
            "selector": st.fixed_dictionaries({"matchLabels": string_maps})}), max_size=2),
        "encryption": st.one_of(st.fixed_dictionaries({"kms": st.fixed_dictionaries({"keyId": text})}),
                                st.fixed_dictionaries({"recipient": text})),
    })
region = st.sampled_from(["us-east-1", "eu-west-2"])
provider = st.one_of(
    st.fixed_dictionaries({"credstash": st.fixed_dictionaries({"region": region}, optional={"table": text})}),
    st.fixed_dictionaries({"wrap": st.fixed_dictionaries({"table": text, "region": region},
                                                         optional={"mode": st.sampled_from(["direct", "lambda"])})}),
    st.fixed_dictionaries({"s3": st.fixed_dictionaries({"bucket": text, "region": region},
                                                       optional={"prefix": text})}),
    st.fixed_dictionaries({"secretsManager": st.fixed_dictionaries({"region": region})}),
    st.fixed_dictionaries({"parameterStore": st.fixed_dictionaries({"region": region}, optional={"path": text})}))
selector = st.fixed_dictionaries({}, optional={
    "matchLabels": string_maps,
    "matchExpressions": st.lists(st.fixed_dictionaries({"key": text, "operator": st.sampled_from(
        ["In", "NotIn", "Exists", "DoesNotExist"])}, optional={"values": st.lists(text, max_size=2)}), max_size=2)})
store_extra = st.fixed_dictionaries({}, optional={
    "auth": st.fixed_dictionaries({}, optional={
        "secretRef": st.fixed_dictionaries({"name": text}, optional={"namespace": text}),
        "roleArn": text, "externalId": text,
        "jwt": st.fixed_dictionaries({"serviceAccountRef": st.fixed_dictionaries({"name": text}, optional={
            "namespace": text, "audiences": st.lists(text, max_size=2)})})}),
    "conditions": st.lists(st.fixed_dictionaries({}, optional={"namespaces": st.lists(text, max_size=2),
                                                               "namespaceSelector": selector}), max_size=2),
    "rateLimit": st.fixed_dictionaries({}, optional={"requestsPerSecond": st.floats(0.1, 1000),
                                                     "burst": st.integers(1, 1000)}),
    "endpoint": st.just("http://127.0.0.1:1")})


def _body(kind: str, spec: dict[str, Any], namespaced: bool = True) -> dict[str, Any]:
    meta = {"name": "x", "uid": "u", "generation": 1, **({"namespace": "ns"} if namespaced else {})}
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}


@SETTINGS
@given(synced_spec)
def test_syncedsecret_specs_parse_or_give_a_spec_error(spec: dict[str, Any]) -> None:
    try:
        parse_synced_secret(_body("SyncedSecret", spec))
    except SpecError as exc:
        assert exc.reason and exc.message


@SETTINGS
@given(provider, store_extra, st.booleans())
def test_store_specs_parse_or_give_a_spec_error(chosen: dict[str, Any], extra: dict[str, Any], cluster: bool) -> None:
    try:
        parse_store(_body("ClusterCredentialStore" if cluster else "CredentialStore", {**chosen, **extra},
                          namespaced=not cluster))
    except SpecError as exc:
        assert exc.reason and exc.message


@SETTINGS
@given(st.fixed_dictionaries({"storeRef": st.fixed_dictionaries({"name": text})}, optional={
    "token": text, "tokenSecretRef": st.fixed_dictionaries({"name": text}, optional={"key": text}),
    "target": st.fixed_dictionaries({}, optional={"name": text, "key": text, "type": text})}))
def test_wrappedsecret_specs_parse_or_give_a_spec_error(spec: dict[str, Any]) -> None:
    try:
        parse_wrapped_secret(_body("WrappedSecret", spec))
    except SpecError as exc:
        assert exc.reason and exc.message


def _mutate(blob: bytes, data: st.DataObject) -> bytes:
    """Flip some bits of one byte, or cut the blob short."""
    if not blob or data.draw(st.booleans(), "truncate"):
        return blob[:data.draw(st.integers(0, max(0, len(blob) - 1)), "length")]
    i = data.draw(st.integers(0, len(blob) - 1), "index")
    return blob[:i] + bytes([blob[i] ^ data.draw(st.integers(1, 255), "xor")]) + blob[i + 1:]


@SETTINGS
@given(st.binary(max_size=200), st.sampled_from(list(credstash.Algorithm)), st.data())
def test_tampered_credstash_items_never_open_to_another_value(plaintext: bytes, algorithm: credstash.Algorithm,
                                                              data: st.DataObject) -> None:
    key = os.urandom(credstash.data_key_bytes(algorithm))
    item = dict(credstash.seal(plaintext, key, b"wrapped", algorithm).attributes)
    # credsmash's aes-ctr HMAC covers the ciphertext, not the nonce (its format, which we must read as
    # is): a changed nonce decrypts to other bytes undetected, so only the authenticated fields are drawn.
    fields = ("contents", "hmac", "iv", "tag") if algorithm is credstash.Algorithm.AES_CTR else (
        "contents", "hmac", "nonce", "iv", "tag")
    field = data.draw(st.sampled_from(sorted(k for k in item if k in fields)))
    original = item[field]
    raw = original.encode() if isinstance(original, str) else original
    if field == "contents" and algorithm is credstash.Algorithm.CREDSTASH:  # base64 text: tamper the bytes within
        raw = base64.b64encode(_mutate(base64.b64decode(raw), data))
    else:
        raw = _mutate(raw, data)
    item[field] = raw.decode("latin-1") if isinstance(original, str) else raw
    try:
        opened = credstash.open_item(item, key)
    except (credstash.IntegrityError, credstash.FormatError):
        return
    assert opened == plaintext  # only a no-op change (e.g. the case of a hex digit) may still open


@SETTINGS
@given(st.binary(max_size=200), st.data())
def test_tampered_envelopes_and_wrap_layers_and_lazycred_tokens_never_open(plaintext: bytes,
                                                                           data: st.DataObject) -> None:
    key = os.urandom(32)
    ctx = envelope.context("ns", "secret", "key")
    sealed = envelope.seal(plaintext, key, b"wrapped-key", ctx)
    tampered = _mutate(sealed.encode(), data)
    with contextlib.suppress(envelope.EnvelopeError):  # refused, or (a no-op change) the same value
        assert envelope.open_envelope(envelope.parse(tampered), key, ctx) == plaintext

    client_value = wrap.client_seal(plaintext, key)
    service_value = wrap.service_seal(client_value, key)
    with contextlib.suppress(wrap.WrapIntegrityError):
        assert wrap.client_open(wrap.service_open(_mutate(service_value, data), key), key) == plaintext

    fernet_key = lazycred.new_key()
    _, token = lazycred.parse(lazycred.seal(plaintext, fernet_key, b"blob"))
    with contextlib.suppress(lazycred.IntegrityError):
        assert lazycred.open_token(fernet_key, _mutate(token, data)) == plaintext
