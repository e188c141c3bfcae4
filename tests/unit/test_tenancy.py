"""The admin's tenancy policy decides what a namespaced store may ask for beyond its own identity."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stashsync.api.stores import parse_store
from stashsync.api.tenancy import TenantPolicy, check_store, parse_tenant_policy
from stashsync.errors import SpecError

POLICY = parse_tenant_policy(
    '{"assumableRoles": [{"namespaces": ["team-*"], "roleArn": "arn:aws:iam::111122223333:role/ss-{namespace}"}],'
    ' "endpoints": ["https://*.vpce.amazonaws.com", "http://127.0.0.1:*"]}')


def _store(auth: dict[str, Any] | None = None, kind: str = "CredentialStore", namespace: str = "team-a",
           **spec: Any) -> Any:
    meta = {"name": "s", "namespace": namespace} if kind == "CredentialStore" else {"name": "s"}
    return parse_store({"kind": kind, "metadata": meta,
                        "spec": {"credstash": {"region": "us-east-1"}, "auth": auth or {}, **spec}})


def _reason(store: Any, policy: TenantPolicy = POLICY) -> str | None:
    try:
        check_store(store, policy)
    except SpecError as exc:
        return exc.reason
    return None


def test_a_namespaced_store_without_its_own_identity_is_refused() -> None:
    assert _reason(_store()) == "OperatorIdentityNotAllowed"
    assert _reason(_store({"secretRef": {"name": "keys"}})) is None
    assert _reason(_store({"jwt": {"serviceAccountRef": {"name": "sa"}}, "roleArn": "arn:aws:iam::1:role/x"})) is None


def test_a_cluster_store_may_use_the_operators_identity_and_any_endpoint() -> None:
    assert _reason(_store(kind="ClusterCredentialStore", endpoint="http://evil.test")) is None


def test_roles_from_the_operators_identity_only_as_allow_listed_per_namespace() -> None:
    assert _reason(_store({"roleArn": "arn:aws:iam::111122223333:role/ss-team-a"})) is None
    assert _reason(_store({"roleArn": "arn:aws:iam::111122223333:role/ss-team-b"})) == "OperatorIdentityNotAllowed"
    assert _reason(_store({"roleArn": "arn:aws:iam::111122223333:role/ss-x"}, namespace="other")) \
        == "OperatorIdentityNotAllowed"
    assert _reason(_store({"roleArn": "arn:aws:iam::111122223333:role/ss-team-a"}), TenantPolicy()) \
        == "OperatorIdentityNotAllowed"


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://vpce-1.sts.vpce.amazonaws.com", True),  # '*' may span dots, never '/', '#', '?' or '@'
    ("https://vpce-1.vpce.amazonaws.com", True),
    ("https://evil.test/x.vpce.amazonaws.com", False),
    ("https://evil.test#.vpce.amazonaws.com", False),
    ("https://user@x.vpce.amazonaws.com", False),
    ("http://x.vpce.amazonaws.com", False),  # http only where a pattern says http
    ("http://127.0.0.1:4566", True),
    ("http://127.0.0.1.evil.test:80", False),
])
def test_endpoints_only_as_allow_listed(url: str, allowed: bool) -> None:
    keys = {"secretRef": {"name": "keys"}}
    assert (_reason(_store(keys, endpoint=url)) is None) is allowed
    assert (_reason(_store(keys, endpoints={"kms": url})) is None) is allowed


def test_web_identity_audiences_are_sts_only_unless_allowed() -> None:
    auth = {"jwt": {"serviceAccountRef": {"name": "sa", "audiences": ["https://kubernetes.default.svc"]}},
            "roleArn": "arn:aws:iam::1:role/x"}
    assert _reason(_store(auth)) == "AudienceNotAllowed"
    assert _reason(_store(auth), parse_tenant_policy('{"webIdentityAudiences": ["https://kubernetes.default.svc"]}')) \
        is None


def test_a_malformed_policy_names_the_problem() -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_tenant_policy("{")
    with pytest.raises(ValueError, match="roleArn"):
        parse_tenant_policy('{"assumableRoles": [{"namespaces": ["a"]}]}')
    assert parse_tenant_policy("") == TenantPolicy()


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://sqs.eu-west-1.amazonaws.com/123456789012/stashsync-team-a-changes", True),
    ("https://sqs.eu-west-1.amazonaws.com/123456789012/stashsync-team-b-changes", False),  # another namespace's
    ("https://sqs.eu-west-1.amazonaws.com/123456789012/stashsync-team-a-x/../other", False),
    ("https://sqs.eu-west-1.amazonaws.com/999999999999/stashsync-team-a-changes", False),
    ("https://user@sqs.eu-west-1.amazonaws.com/123456789012/stashsync-team-a-changes", False),
])
def test_a_change_feed_reads_only_the_queues_the_admin_allows_its_namespace(url: str, allowed: bool) -> None:
    from stashsync.api.tenancy import check_feed

    policy = parse_tenant_policy(json.dumps({"feedQueues": [
        "https://sqs.*.amazonaws.com/123456789012/stashsync-{namespace}-*"]}))
    store = parse_store({"kind": "CredentialStore", "metadata": {"name": "s", "namespace": "team-a"},
                         "spec": {"secretsManager": {"region": "eu-west-1"}, "auth": {"secretRef": {"name": "k"}},
                                  "changeFeed": {"sqs": {"queueUrl": url}}}})
    if allowed:
        check_feed(store, policy)
    else:
        with pytest.raises(SpecError) as caught:
            check_feed(store, policy)
        assert caught.value.reason == "FeedNotAllowed" and url not in caught.value.message
    with pytest.raises(SpecError):
        check_feed(store, TenantPolicy())  # none by default
