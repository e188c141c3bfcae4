"""Pure parts of the Secrets Manager / Parameter Store / S3 sources and of store auth and limits."""

from __future__ import annotations

import base64
import json

import pytest

from stashsync.api.patterns import literal_prefix
from stashsync.api.selectors import parse_label_selector
from stashsync.api.stores import namespace_allowed, parse_store
from stashsync.controllers.store_resolver import role_session_name
from stashsync.crypto import lazycred
from stashsync.errors import SpecError
from stashsync.sources.secretsmanager import is_version_id
from stashsync.sources.ssm import _distinct_name_chunks
from stashsync.values.properties import PropertyNotFound, extract

# A lazycred 0.2.3 body as its put() builds it: the Fernet token from Fernet(key).encrypt(data), and
# the KMS ciphertext of the key (here a stand-in blob: the KMS step is not part of the format).
FERNET_KEY = b"T1IvXi1JNk0Ahxdxl8w6nYoDKcF0aPqxN34U2Ha8XrA="
TOKEN = b"gAAAAABlU_EAAQEBAQEBAQEBAQEBAQEBAdSGy_pUg_GJBc86wbhMRAxgd5-ApxSmjB_XFT5lPT6QkEXWEoxWnb-Ygcjj_00pYA=="
BODY = json.dumps({"key": base64.b64encode(b"kms-blob").decode(), "data": TOKEN.decode()}).encode()


def test_lazycred_vector_opens_and_seal_round_trips() -> None:
    blob, token = lazycred.parse(BODY)
    assert blob == b"kms-blob" and lazycred.open_token(FERNET_KEY, token) == b"lazycred vector"
    key = lazycred.new_key()
    assert len(key) == 44
    blob, token = lazycred.parse(lazycred.seal(b"v", key, b"blob"))
    assert lazycred.open_token(key, token) == b"v"


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"key": "***", "data": "x"}', b'{"key": 1, "data": "x"}'])
def test_lazycred_rejects_what_is_not_its_format(body: bytes) -> None:
    with pytest.raises(lazycred.FormatError):
        lazycred.parse(body)


def test_lazycred_rejects_a_tampered_token_or_another_key() -> None:
    with pytest.raises(lazycred.IntegrityError):
        lazycred.open_token(FERNET_KEY, TOKEN[:-6] + b"AAAA==")
    with pytest.raises(lazycred.IntegrityError):
        lazycred.open_token(lazycred.new_key(), TOKEN)


def test_json_properties() -> None:
    value = json.dumps({"db": {"password": "p", "port": 5432, "a.b": "dotted"}, "hosts": ["h0", "h1"]}).encode()
    assert extract(value, "db.password", "x") == b"p"
    assert extract(value, "db.port", "x") == b"5432"
    assert extract(value, "hosts.1", "x") == b"h1"
    assert extract(value, "db.a\\.b", "x") == b"dotted"
    assert extract(value, "hosts", "x") == b'["h0","h1"]'
    for prop in ("db.user", "hosts.5", "db.password.x"):
        with pytest.raises(PropertyNotFound):
            extract(value, prop, "x")
    with pytest.raises(PropertyNotFound, match="not JSON"):
        extract(b"plain text", "a", "x")


def test_label_selectors() -> None:
    selector = parse_label_selector({"matchLabels": {"team": "pay"},
                                     "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "stg"]},
                                                          {"key": "frozen", "operator": "DoesNotExist"}]})
    assert selector.matches({"team": "pay", "env": "prod"})
    assert not selector.matches({"team": "pay", "env": "dev"})
    assert not selector.matches({"team": "pay", "env": "prod", "frozen": "1"})
    assert parse_label_selector({}).matches({})
    with pytest.raises(SpecError):
        parse_label_selector({"matchExpressions": [{"key": "a", "operator": "In"}]})
    with pytest.raises(SpecError):
        parse_label_selector({"matchExpressions": [{"key": "a", "operator": "Near", "values": ["x"]}]})


def _store(kind: str, **spec: object) -> dict[str, object]:
    meta = {"name": "s", **({"namespace": "home"} if kind == "CredentialStore" else {})}
    return {"kind": kind, "metadata": meta, "spec": {"secretsManager": {"region": "us-east-1"}, **spec}}


def test_cluster_store_conditions_and_namespaced_store_scope() -> None:
    open_store = parse_store(_store("ClusterCredentialStore"))
    assert namespace_allowed(open_store, "anything", None)
    store = parse_store(_store("ClusterCredentialStore", conditions=[
        {"namespaces": ["a"]}, {"namespaceSelector": {"matchLabels": {"team": "pay"}}}]))
    assert namespace_allowed(store, "a", None)
    assert namespace_allowed(store, "b", {"team": "pay"})
    assert not namespace_allowed(store, "b", {"team": "ops"})
    namespaced = parse_store(_store("CredentialStore"))
    assert namespace_allowed(namespaced, "home", None) and not namespace_allowed(namespaced, "other", None)
    with pytest.raises(SpecError, match="ClusterCredentialStore only"):
        parse_store(_store("CredentialStore", conditions=[{"namespaces": ["a"]}]))


def test_store_providers_and_auth_rules() -> None:
    s3 = parse_store({"kind": "CredentialStore", "metadata": {"name": "s", "namespace": "n"},
                      "spec": {"s3": {"bucket": "b", "region": "eu-west-1", "prefix": "p/"}}})
    assert (s3.provider, s3.region) == ("s3", "eu-west-1")
    ssm = parse_store({"kind": "CredentialStore", "metadata": {"name": "s", "namespace": "n"},
                       "spec": {"parameterStore": {"region": "us-east-1", "path": "/prod"}}})
    assert ssm.provider == "parameterStore"
    # Parameter Store's default budget stays under its 40/s account quota; the others default to 50/s.
    assert (ssm.rate_limit.requests_per_second, ssm.rate_limit.burst) == (20.0, 40)
    assert (s3.rate_limit.requests_per_second, s3.rate_limit.burst) == (50.0, 100)
    with pytest.raises(SpecError, match="roleArn"):
        parse_store(_store("CredentialStore", auth={"jwt": {"serviceAccountRef": {"name": "sa"}}}))
    with pytest.raises(SpecError, match="own namespace"):
        parse_store(_store("CredentialStore", auth={"roleArn": "arn:aws:iam::1:role/r",
                                                    "jwt": {"serviceAccountRef": {"name": "sa", "namespace": "x"}}}))
    with pytest.raises(SpecError, match="required on a cluster store"):
        parse_store(_store("ClusterCredentialStore", auth={"roleArn": "arn:aws:iam::1:role/r",
                                                           "jwt": {"serviceAccountRef": {"name": "sa"}}}))
    with pytest.raises(SpecError, match="rateLimit"):
        parse_store(_store("CredentialStore", rateLimit={"requestsPerSecond": 0}))


def test_small_helpers() -> None:
    assert literal_prefix("app/db-*") == "app/db-" and literal_prefix("/^a/") == "" and literal_prefix("x") == "x"
    assert is_version_id("a1b2c3d4-e5f6-4a5b-8c9d-0e1f2a3b4c5d") and not is_version_id("AWSPREVIOUS")
    assert role_session_name("team a", "store/x") == "stashsync-team-a-store-x"
    assert len(role_session_name("n" * 63, "s" * 63)) == 64
    chunks = list(_distinct_name_chunks(["/a", "/a:1", "/a:old"] + [f"/p{i}" for i in range(12)]))
    assert all(len(c) <= 10 and len({s.split(":")[0] for s in c}) == len(c) for c in chunks)
    assert sorted(s for c in chunks for s in c) == sorted(["/a", "/a:1", "/a:old"] + [f"/p{i}" for i in range(12)])


def test_cli_s3_backend_errors_are_one_line(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from stashsync.cli.main import main as cli

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert cli(["put", "--backend", "s3", "name", "value"]) == 1
    assert capsys.readouterr().err == "stashsync: error: --backend s3 needs --bucket\n"
    assert cli(["put", "--backend", "s3", "--bucket", "b", "-v", "2", "name", "value"]) == 1
    assert "-v and -a do not apply" in capsys.readouterr().err
    assert cli(["get", "--backend", "s3", "--bucket", "b", "name", "a=b"]) == 1
    assert "no encryption context" in capsys.readouterr().err


def test_shard_selectors() -> None:
    import kopf

    from stashsync.settings import parse_shard_selector

    assert parse_shard_selector("") is None
    assert parse_shard_selector("stashsync.dev/shard=a, team") == {"stashsync.dev/shard": "a", "team": kopf.PRESENT}
    assert parse_shard_selector("!stashsync.dev/shard") == {"stashsync.dev/shard": kopf.ABSENT}
    with pytest.raises(SpecError):
        parse_shard_selector("key=")


def test_deeply_nested_json_is_a_clear_error_not_a_recursion_traceback() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(PropertyNotFound, match="nested too deeply"):
        extract(deep, "a", "credential 'x'")


def test_a_malformed_mac_key_is_refused_with_what_to_do() -> None:
    import base64

    from stashsync.kube.mac_key import MalformedMacKey, _valid_key

    assert _valid_key({"mac-key": base64.b64encode(b"k" * 32).decode()}, "ns", "n") == b"k" * 32
    for data in ({}, {"mac-key": "not base64!"}, {"mac-key": base64.b64encode(b"short").decode()}):
        with pytest.raises(MalformedMacKey, match="32 random bytes"):
            _valid_key(data, "ns", "n")
