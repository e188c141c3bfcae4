"""Durations, name patterns, keyed MACs, templates, spec parsing."""

from __future__ import annotations

import re

import pytest

from stashsync.api.durations import PATTERN, parse_duration
from stashsync.api.patterns import PatternError, matching
from stashsync.api.stores import parse_store
from stashsync.api.syncedsecret import key_for_name, parse_synced_secret
from stashsync.crypto import mac
from stashsync.crypto.template import TemplateRenderError, render
from stashsync.errors import SpecError


@pytest.mark.parametrize(("text", "seconds"), [("0", 0), ("30s", 30), ("15m", 900), ("1h30m", 5400),
                                                ("1500ms", 1.5), ("1d", 86400), ("1.5h", 5400), ("1s500ms", 1.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "f") == seconds


@pytest.mark.parametrize("text", ["", "soon", "10", "1h 30m", "m5", "1ms", "500ms", "0.5s", "0s"])
def test_bad_and_too_short_durations_name_the_field(text: str) -> None:
    with pytest.raises(SpecError, match="refreshInterval"):
        parse_duration(text, "refreshInterval")


@pytest.mark.parametrize("text", ["0", "1s", "1000ms", "1.5h", "1h30m", "1s500ms", "30s", "1d"])
def test_the_schema_pattern_accepts_what_the_parser_accepts(text: str) -> None:
    assert re.fullmatch(PATTERN, text) and parse_duration(text, "f") >= 0


@pytest.mark.parametrize("text", ["1ms", "999ms", "0.5s", "0s", "0m1s", ".5s"])
def test_the_schema_pattern_refuses_hot_loops(text: str) -> None:
    assert re.fullmatch(PATTERN, text) is None


def test_a_catastrophic_regex_runs_in_linear_time_and_lookaround_is_refused() -> None:
    # On Python's engine this pattern takes minutes over one 40-character name; RE2 answers at once.
    assert matching(["x" * 40 + "z", "xy"], "/(.*.*)*y/") == ["xy"]
    with pytest.raises(PatternError, match="RE2"):
        matching(["a"], "/(?=a)a/")
    with pytest.raises(PatternError, match="at most"):
        matching(["a"], "a" * 600)
    # Counted repeats expand as they compile (this one compiled for seconds): refused by RE2's program cap.
    with pytest.raises(PatternError, match="compiles to more"):
        matching(["a"], "/" + "[a-z]{0,1000}" * 30 + "/")


def test_find_patterns_glob_and_regex() -> None:
    names = ["app.db", "app.cache", "other.db", "app.db.old"]
    assert matching(names, "app.*") == ["app.cache", "app.db", "app.db.old"]
    assert matching(names, "/^app\\.(db|cache)$/") == ["app.cache", "app.db"]
    with pytest.raises(PatternError):
        matching(names, "/(/")


def test_mac_is_keyed_and_length_prefixed() -> None:
    a = mac.data_mac(b"k1", "uid-1", {"ab": b"c"})
    assert a != mac.data_mac(b"k2", "uid-1", {"ab": b"c"})
    assert a != mac.data_mac(b"k1", "uid-1", {"a": b"bc"})
    assert mac.matches(b"k1", "uid-1", {"ab": b"c"}, a) and not mac.matches(b"k1", "uid-1", {"ab": b"c"}, None)


def test_macs_of_the_same_value_differ_between_objects() -> None:
    """A tenant's literal guess in its own status is not comparable with another object's MAC."""
    guess = {"password": b"guess"}
    assert mac.data_mac(b"k", "attacker-uid", guess) != mac.data_mac(b"k", "victim-uid", guess)
    assert not mac.matches(b"k", "victim-uid", guess, mac.data_mac(b"k", "attacker-uid", guess))


def test_macs_made_before_per_object_keys_still_match() -> None:
    import hashlib
    import hmac

    legacy = mac.LEGACY_PREFIX + hmac.new(b"k", b"".join(len(p).to_bytes(8, "big") + p for p in (b"a", b"1")),
                                          hashlib.sha256).hexdigest()
    assert mac.matches(b"k", "any-uid", {"a": b"1"}, legacy)
    assert not mac.matches(b"k", "any-uid", {"a": b"2"}, legacy)


def test_template_renders_and_reaches_dashed_keys() -> None:
    out = render({"dsn": "{{ user }}:{{ data['db-pass'] }}", "b": "{{ user | b64enc }}"},
                 {"user": b"u", "db-pass": b"p"})
    assert out == {"dsn": b"u:p", "b": b"dQ=="}


@pytest.mark.parametrize("source", ["{{ nope }}", "{{ user.__class__.__mro__ }}", "{% for %}",
                                    "{{ user | fromjson }}", "{{ ''.__class__.__subclasses__() }}"])
def test_template_errors_and_sandbox_escapes_fail_without_the_value(source: str) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render({"k": source}, {"user": b"hunter2-value"})
    assert "hunter2-value" not in str(caught.value)


def _ssec(**spec: object) -> dict[str, object]:
    return {"metadata": {"name": "app", "namespace": "ns"}, "spec": {"storeRef": {"name": "s"}, **spec}}


def test_syncedsecret_defaults() -> None:
    spec = parse_synced_secret(_ssec(data=[{"key": "k", "name": "n"}]))
    assert spec.target.name == "app" and spec.target.creation_policy == "Owner"
    assert spec.refresh_seconds == 3600 and spec.data[0].version is None


def test_syncedsecret_rejects_duplicate_keys_and_empty_lists() -> None:
    with pytest.raises(SpecError, match="repeated: k"):
        parse_synced_secret(_ssec(data=[{"key": "k", "name": "a"}, {"key": "k", "name": "b"}]))
    with pytest.raises(SpecError, match="at least one"):
        parse_synced_secret(_ssec())


def test_found_names_become_valid_keys() -> None:
    assert key_for_name("prod/app:db") == "prod_app_db"


def test_namespaced_store_may_not_read_auth_from_another_namespace() -> None:
    body = {"kind": "CredentialStore", "metadata": {"name": "s", "namespace": "a"},
            "spec": {"credstash": {"region": "us-east-1"},
                     "auth": {"secretRef": {"name": "keys", "namespace": "b"}}}}
    with pytest.raises(SpecError) as caught:
        parse_store(body)
    assert caught.value.reason == "InvalidAuth"


def test_restart_targets_need_a_name_or_a_selector_and_a_workload_kind() -> None:
    spec = parse_synced_secret(_ssec(data=[{"key": "k", "name": "n"}], rolloutRestartTargets=[
        {"name": "web"}, {"kind": "StatefulSet", "selector": {"matchLabels": {"tier": "db"}}}]))
    assert [(t.kind, t.name, t.match_labels) for t in spec.restart_targets] == [
        ("Deployment", "web", None), ("StatefulSet", None, {"tier": "db"})]
    with pytest.raises(SpecError, match="either a name or"):
        parse_synced_secret(_ssec(data=[{"key": "k", "name": "n"}], rolloutRestartTargets=[{"kind": "DaemonSet"}]))
    with pytest.raises(SpecError, match="must be Deployment"):
        parse_synced_secret(_ssec(data=[{"key": "k", "name": "n"}], rolloutRestartTargets=[
            {"kind": "CronJob", "name": "x"}]))


@pytest.mark.parametrize("source", [
    "{{ data[user] }}", "{{ user|attr(user) }}", "{{ data[user] ~ 'x' }}", "{{ (user|int) + user }}",
    "{{ user|float + user }}", "{{ user|b64dec }}", "{{ user|fromjson }}", "{{ data[user ~ ''] }}",
    "{{ user[user] }}", "{{ {}[user] }}", "{{ [][user|int + 5] }}", "{% set x = user %}{{ x.nope }}{{ data[x] }}",
])
def test_template_error_messages_never_repeat_a_value(source: str) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render({"k": source}, {"user": b"hunter2-value"})
    assert "hunter2" not in str(caught.value)
    assert "'k'" in str(caught.value)


def test_template_error_gives_the_line_and_the_keys_never_the_templates_text() -> None:
    with pytest.raises(TemplateRenderError, match=r"line 2: uses a name.*not defined.*here: db-pass, user\)") as caught:
        render({"k": "{{ user }}\n{{ pasword }}"}, {"user": b"u", "db-pass": b"p"})
    assert "pasword" not in str(caught.value)
    for source in ("{% secret-in-a-tag %}", "{{ user }\n{{ secret-token-text", "{{ 'secret' + }}"):
        with pytest.raises(TemplateRenderError, match="syntax error") as caught:
            render({"k": source}, {"user": b"u"})
        assert "secret" not in str(caught.value)


@pytest.mark.parametrize("source", ["{{ 'a' * 400000000 }}", "{{ 10 ** 100000 }}", "{{ ((10 ** 60) ** 60) ** 60 }}",
                                    "{{ [1] * 10**8 }}", "{% for i in data %}{{ user * 60000 }}{% endfor %}"])
def test_templates_that_build_too_much_are_refused(source: str) -> None:
    with pytest.raises(TemplateRenderError):
        render({"k": source}, {"user": b"x" * 100, **{f"k{i}": b"v" for i in range(30)}})


def test_built_store_sessions_are_bounded_least_recently_used_first() -> None:
    import time as clock
    from typing import cast

    from kubernetes_asyncio.client import ApiClient

    from stashsync.api.tenancy import parse_tenant_policy
    from stashsync.aws.clients import AwsAuth
    from stashsync.controllers.store_resolver import StoreResolver, _Built
    from stashsync.kube.secrets import Secrets
    from stashsync.sources.registry import StoreHandle

    resolver = StoreResolver(parse_tenant_policy(""), cast(ApiClient, None), cast(Secrets, None),  # unused here
                             max_built=2)
    handles = {name: cast(StoreHandle, object()) for name in "abc"}  # the resolver never looks inside

    def keep(name: str) -> None:
        resolver._keep((name, 1, "ns"), _Built(clock.monotonic(), AwsAuth(region="us-east-1"), handles[name]))

    keep("a")
    keep("b")
    assert resolver._fresh(("a", 1, "ns")) is handles["a"]  # used: now the most recent
    keep("c")
    assert len(resolver) == 2
    assert resolver._fresh(("b", 1, "ns")) is None  # the least recently used went
    assert resolver._fresh(("a", 1, "ns")) is handles["a"] and resolver._fresh(("c", 1, "ns")) is handles["c"]


def test_a_namespace_with_many_stores_evicts_its_own_sessions_not_another_namespaces() -> None:
    import time as clock
    from typing import cast

    from kubernetes_asyncio.client import ApiClient

    from stashsync.api.tenancy import parse_tenant_policy
    from stashsync.aws.clients import AwsAuth
    from stashsync.controllers.store_resolver import StoreResolver, _Built
    from stashsync.kube.secrets import Secrets
    from stashsync.sources.registry import StoreHandle

    resolver = StoreResolver(parse_tenant_policy(""), cast(ApiClient, None), cast(Secrets, None), max_built=64)
    victim = cast(StoreHandle, object())
    resolver._keep(("victim-store", 1, "victim"), _Built(clock.monotonic(), AwsAuth(region="us-east-1"), victim))
    for i in range(500):  # a namespace with 500 stores
        resolver._keep((f"s{i}", 1, "hostile"), _Built(clock.monotonic(), AwsAuth(region="us-east-1"),
                                                     cast(StoreHandle, object())))
    assert resolver._fresh(("victim-store", 1, "victim")) is victim
    assert len(resolver) == 1 + resolver.max_per_namespace


def test_sessions_share_one_botocore_loader() -> None:
    from stashsync.aws.clients import AwsAuth, AwsClients

    first, second = (AwsClients(AwsAuth(region="us-east-1", access_key_id=k, secret_access_key="x"))
                     for k in ("AKID1", "AKID2"))
    loader = first._session._session.get_component("data_loader")
    assert loader is second._session._session.get_component("data_loader")
    assert first._session.get_credentials().access_key == "AKID1"  # credentials stay per store
    assert second._session.get_credentials().access_key == "AKID2"
