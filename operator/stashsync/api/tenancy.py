"""What the cluster admin lets a namespaced CredentialStore do beyond bringing its own identity.

A namespaced store is written by a tenant of that namespace. By default it must bring its own AWS
identity (auth.secretRef: keys in its namespace; auth.jwt: a service account of its namespace) and
talk to AWS's own endpoints. The admin may allow, through the operator's `tenancy` setting (chart
value `tenancy`, environment STASHSYNC_TENANCY as JSON):

- `assumableRoles`: roles a namespaced store may assume *from the operator's identity*, as
  `{namespaces: [globs], roleArn: glob}`; `{namespace}` in roleArn stands for the store's namespace.
- `endpoints`: URL patterns a namespaced store's endpoint(s) may match (`*` stays within one URL
  segment). An `http://` endpoint is allowed only by an `http://` pattern.
- `webIdentityAudiences`: token audiences auth.jwt may ask for (default: sts.amazonaws.com only),
  because a token with a tenant-chosen audience may be valid against other services.
- `feedQueues`: SQS queue URL patterns a namespaced store's changeFeed may read (`*` stays within one
  URL segment; `{namespace}` stands for the store's namespace). Reading a queue consumes its messages:
  without this list a tenant whose keys IAM lets read another team's queue would drain that team's
  change events. None by default: namespaced stores then poll.

ClusterCredentialStores are made by the admin and are not limited here.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from stashsync.api.stores import CLUSTER_KIND, StoreSpec
from stashsync.errors import SpecError

STS_AUDIENCE = "sts.amazonaws.com"


@dataclass(frozen=True)
class AssumableRole:
    namespaces: tuple[str, ...]  # globs over namespace names
    role_arn: str  # a glob; "{namespace}" is replaced by the store's namespace

    def allows(self, namespace: str, role_arn: str) -> bool:
        if not any(fnmatch.fnmatchcase(namespace, n) for n in self.namespaces):
            return False
        return _segment_glob(self.role_arn.replace("{namespace}", namespace)).fullmatch(role_arn) is not None


@dataclass(frozen=True)
class TenantPolicy:
    assumable_roles: tuple[AssumableRole, ...] = ()
    endpoints: tuple[str, ...] = ()
    web_identity_audiences: tuple[str, ...] = (STS_AUDIENCE,)
    feed_queues: tuple[str, ...] = ()

    def may_assume(self, namespace: str, role_arn: str) -> bool:
        return any(r.allows(namespace, role_arn) for r in self.assumable_roles)

    def feed_queue_allowed(self, namespace: str, url: str) -> bool:
        return well_formed_endpoint(url) and any(
            _segment_glob(p.replace("{namespace}", namespace)).fullmatch(url) for p in self.feed_queues)

    def endpoint_allowed(self, url: str) -> bool:
        return well_formed_endpoint(url) and any(_segment_glob(p.rstrip("/")).fullmatch(url.rstrip("/"))
                                                 for p in self.endpoints)


def _segment_glob(pattern: str) -> re.Pattern[str]:
    """A glob whose `*` never crosses '/', '?', '#' or '@', so `https://*.example.com` cannot match
    `https://evil.test/x.example.com`."""
    return re.compile("".join("[^/?#@]*" if c == "*" else re.escape(c) for c in pattern))


def well_formed_endpoint(url: str) -> bool:
    """An http(s) URL with a plain host: no user info, query or fragment to hide the real host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and "@" not in parts.netloc
            and not parts.query and not parts.fragment and re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", parts.netloc)
            is not None)


def parse_tenant_policy(text: str) -> TenantPolicy:
    """The JSON form the chart writes. Raises ValueError with a sentence naming the bad field."""
    if not text.strip():
        return TenantPolicy()
    try:
        raw: Any = json.loads(text)
    except ValueError:
        raise ValueError("STASHSYNC_TENANCY is not valid JSON") from None
    if not isinstance(raw, dict):
        raise ValueError("STASHSYNC_TENANCY must be a JSON object")
    roles = []
    for entry in raw.get("assumableRoles") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("roleArn"), str):
            raise ValueError("STASHSYNC_TENANCY: each assumableRoles entry needs roleArn (and namespaces)")
        roles.append(AssumableRole(namespaces=tuple(str(n) for n in entry.get("namespaces") or ["*"]),
                                   role_arn=entry["roleArn"]))
    audiences = tuple(str(a) for a in raw.get("webIdentityAudiences") or [STS_AUDIENCE])
    return TenantPolicy(assumable_roles=tuple(roles), endpoints=tuple(str(e) for e in raw.get("endpoints") or []),
                        web_identity_audiences=audiences,
                        feed_queues=tuple(str(q) for q in raw.get("feedQueues") or []))


def check_feed(store: StoreSpec, policy: TenantPolicy) -> None:
    """Raise SpecError (FeedNotAllowed) if a namespaced store's change feed reads a queue the admin did
    not allow its namespace. The store itself stays usable: its objects poll."""
    feed = store.change_feed
    if (store.kind == CLUSTER_KIND or feed is None or feed.kind != "sqs"
            or policy.feed_queue_allowed(store.namespace or "", feed.queue_url)):
        return
    raise SpecError("changeFeed.sqs.queueUrl is not a queue the cluster admin allows this namespace to read "
                    "(reading a queue consumes its messages): the admin must allow it (chart value "
                    "tenancy.feedQueues); remove changeFeed to poll", reason="FeedNotAllowed")


def check_store(store: StoreSpec, policy: TenantPolicy) -> None:
    """Raise SpecError (with a reason and what to do) if a namespaced store asks for more than its
    tenant is entitled to. Cluster stores pass."""
    if store.kind == CLUSTER_KIND:
        return
    namespace = store.namespace or ""
    auth = store.auth
    if auth.secret_ref is None and auth.service_account is None:
        if auth.role_arn is None:
            raise SpecError(
                "a CredentialStore must bring its own AWS identity: set auth.secretRef (keys in a Secret of this "
                "namespace) or auth.jwt with roleArn (a service account of this namespace); only "
                "ClusterCredentialStores may use the operator's own identity", reason="OperatorIdentityNotAllowed")
        if not policy.may_assume(namespace, auth.role_arn):
            raise SpecError(
                f"auth.roleArn may not be assumed from the operator's identity for namespace {namespace!r}: "
                "the cluster admin must allow it (chart value tenancy.assumableRoles), or set auth.secretRef or "
                "auth.jwt", reason="OperatorIdentityNotAllowed")
    for service, url in store.all_endpoints():
        if not policy.endpoint_allowed(url):
            where = "endpoint" if service == "" else f"endpoints.{service}"
            raise SpecError(f"{where} is not an endpoint allowed for a CredentialStore: the cluster admin must "
                            "allow it (chart value tenancy.endpoints); remove it to use AWS's own endpoints",
                            reason="EndpointNotAllowed")
    if auth.service_account is not None:
        refused = sorted(set(auth.service_account.audiences) - set(policy.web_identity_audiences))
        if refused:
            raise SpecError(f"auth.jwt asks for {len(refused)} token audience(s) the cluster admin does not allow "
                            f"(allowed: {', '.join(policy.web_identity_audiences)}; chart value "
                            "tenancy.webIdentityAudiences)", reason="AudienceNotAllowed")
