"""CredentialStore / ClusterCredentialStore: where and how to read, and who may use a cluster store."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from stashsync.api.durations import parse_duration
from stashsync.api.selectors import LabelSelector, parse_label_selector
from stashsync.errors import SpecError

NAMESPACED_KIND = "CredentialStore"
CLUSTER_KIND = "ClusterCredentialStore"
PLURALS = {NAMESPACED_KIND: "credentialstores", CLUSTER_KIND: "clustercredentialstores"}
PROVIDERS = ("credstash", "wrap", "s3", "secretsManager", "parameterStore")
DEFAULT_REQUESTS_PER_SECOND = 50.0
DEFAULT_BURST = 100
# A store's default budget, below the AWS quota its calls share with the account's other users:
# Parameter Store allows 40 GetParameter(s)/GetParametersByPath per second per account and region
# (standard throughput), so half of it; Secrets Manager's ListSecrets and BatchGetSecretValue allow
# 100/s, DynamoDB on-demand, KMS (5,500+/s) and S3 (5,500 GET/s per prefix) far more than 50/s.
PROVIDER_RATE_LIMITS = {"parameterStore": (20.0, 40)}


@dataclass(frozen=True)
class SecretKeyAuth:
    """Static AWS keys held in a Secret."""

    name: str
    namespace: str
    access_key_id_key: str = "access-key-id"
    secret_access_key_key: str = "secret-access-key"
    session_token_key: str | None = None


@dataclass(frozen=True)
class ServiceAccountAuth:
    """A service account whose token (from the TokenRequest API) is exchanged for the role's credentials."""

    name: str
    namespace: str
    audiences: tuple[str, ...] = ("sts.amazonaws.com",)


@dataclass(frozen=True)
class StoreAuth:
    secret_ref: SecretKeyAuth | None = None
    service_account: ServiceAccountAuth | None = None
    role_arn: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class CredstashProvider:
    table: str
    region: str
    kms_key_id: str
    algorithm: str
    allow_generate: bool = False  # the store's admin lets SyncedSecrets write generated versions


@dataclass(frozen=True)
class WrapProvider:
    """An aws-secrets-wrapper table; `direct` does the service side here, `lambda` invokes the service."""

    table: str
    region: str
    mode: str
    function_name: str
    kms_key_id: str | None  # the service key, needed only to wrap in direct mode


@dataclass(frozen=True)
class S3Provider:
    """lazycred objects: `<bucket>/<prefix><name>`."""

    bucket: str
    prefix: str
    region: str
    kms_key_id: str  # used only to write


@dataclass(frozen=True)
class SecretsManagerProvider:
    region: str


@dataclass(frozen=True)
class ParameterStoreProvider:
    region: str
    path: str | None  # names not starting with '/' are relative to it


@dataclass(frozen=True)
class NamespaceCondition:
    """One rule of a cluster store: a namespace is allowed if it is listed or its labels match."""

    namespaces: tuple[str, ...] = ()
    selector: LabelSelector | None = None


@dataclass(frozen=True)
class RateLimit:
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    burst: int = DEFAULT_BURST


Provider = CredstashProvider | WrapProvider | S3Provider | SecretsManagerProvider | ParameterStoreProvider


@dataclass(frozen=True)
class ChangeFeed:
    """Where the store learns of changes without polling: its credstash table's DynamoDB stream, or an
    SQS queue fed by EventBridge or S3 notifications. While the feed is read, the SyncedSecrets using
    the store poll every `backstop_seconds` at most often (their refreshInterval if that is longer)."""

    kind: str  # dynamodbStream or sqs
    queue_url: str = ""
    backstop_seconds: float = 0.0  # 0: objects keep their own refreshInterval


@dataclass(frozen=True)
class StoreSpec:
    kind: str
    name: str
    namespace: str | None  # None for cluster stores
    provider: str
    backend: Provider  # the provider's own settings (table, bucket, path, ...)
    endpoint: str | None  # every service's endpoint, unless `endpoints` names the service
    auth: StoreAuth
    conditions: tuple[NamespaceCondition, ...] = ()
    rate_limit: RateLimit = field(default_factory=RateLimit)
    # Per-service endpoints (e.g. VPC endpoints differ for sts, kms and dynamodb): service -> URL.
    endpoints: tuple[tuple[str, str], ...] = ()
    change_feed: ChangeFeed | None = None

    def all_endpoints(self) -> list[tuple[str, str]]:
        """("", endpoint) and (service, url) for every override the store names."""
        return ([("", self.endpoint)] if self.endpoint else []) + list(self.endpoints)

    @property
    def region(self) -> str:
        return self.backend.region

    @property
    def location(self) -> str:
        """Where its credentials are, for people (`kubectl get` shows it): the table, bucket and prefix,
        path or function, and the region."""
        b = self.backend
        if isinstance(b, CredstashProvider):
            where = f"table {b.table}"
        elif isinstance(b, WrapProvider):
            where = f"table {b.table}" if b.mode == "direct" else f"function {b.function_name}"
        elif isinstance(b, S3Provider):
            where = f"s3://{b.bucket}/{b.prefix}"
        elif isinstance(b, ParameterStoreProvider):
            where = f"path {b.path or '/'}"
        else:
            where = "every secret"
        return f"{where} ({b.region})"

    @property
    def credstash(self) -> CredstashProvider | None:
        return self.backend if isinstance(self.backend, CredstashProvider) else None

    @property
    def wrap(self) -> WrapProvider | None:
        return self.backend if isinstance(self.backend, WrapProvider) else None


def parse_store_ref(spec: dict[str, Any]) -> tuple[str, str]:
    """(kind, name) of the store a SyncedSecret or WrappedSecret spec names."""
    ref = spec.get("storeRef") or {}
    kind = ref.get("kind", NAMESPACED_KIND)
    if kind not in (NAMESPACED_KIND, CLUSTER_KIND):
        raise SpecError(f"storeRef.kind must be {NAMESPACED_KIND} or {CLUSTER_KIND}")
    return kind, ref.get("name", "")


def parse_store(body: dict[str, Any]) -> StoreSpec:
    kind = body.get("kind", NAMESPACED_KIND)
    meta = body.get("metadata", {})
    namespace = meta.get("namespace") if kind == NAMESPACED_KIND else None
    spec = body.get("spec") or {}
    chosen = [p for p in PROVIDERS if spec.get(p)]
    if len(chosen) != 1:
        raise SpecError(f"a store needs exactly one provider block ({', '.join(PROVIDERS)})")
    provider = chosen[0]
    conditions = tuple(_parse_condition(c) for c in spec.get("conditions") or [])
    if conditions and kind != CLUSTER_KIND:
        raise SpecError("conditions apply to a ClusterCredentialStore only; a CredentialStore serves its own namespace")
    limit = spec.get("rateLimit") or {}
    rate, burst = PROVIDER_RATE_LIMITS.get(provider, (DEFAULT_REQUESTS_PER_SECOND, DEFAULT_BURST))
    rate_limit = RateLimit(float(limit.get("requestsPerSecond", rate)), int(limit.get("burst", burst)))
    if rate_limit.requests_per_second <= 0 or rate_limit.burst < 1:
        raise SpecError("rateLimit.requestsPerSecond must be above 0 and rateLimit.burst at least 1")
    return StoreSpec(kind=kind, name=meta.get("name", ""), namespace=namespace, provider=provider,
                     backend=_parse_provider(provider, spec[provider]), endpoint=spec.get("endpoint"),
                     auth=_parse_auth(spec.get("auth") or {}, namespace), conditions=conditions,
                     rate_limit=rate_limit, endpoints=_parse_endpoints(spec.get("endpoints") or {}),
                     change_feed=_parse_change_feed(provider, spec.get("changeFeed")))


def _parse_change_feed(provider: str, raw: dict[str, Any] | None) -> ChangeFeed | None:
    if raw is None:
        return None
    kinds = [k for k in ("dynamodbStream", "sqs") if raw.get(k) is not None]
    if len(kinds) != 1:
        raise SpecError("changeFeed needs exactly one of dynamodbStream or sqs")
    backstop = parse_duration(str(raw.get("backstopInterval", "0")), "changeFeed.backstopInterval")
    if kinds[0] == "dynamodbStream":
        if provider != "credstash":
            raise SpecError("changeFeed.dynamodbStream reads a credstash table's stream; for other providers "
                            "use changeFeed.sqs")
        return ChangeFeed("dynamodbStream", backstop_seconds=backstop)
    if provider not in ("secretsManager", "parameterStore", "s3"):
        raise SpecError("changeFeed.sqs carries Secrets Manager, Parameter Store and S3 events; a credstash "
                        "table uses changeFeed.dynamodbStream")
    url = str((raw.get("sqs") or {}).get("queueUrl") or "")
    if not url.startswith(("https://", "http://")):
        raise SpecError("changeFeed.sqs.queueUrl must be the queue's URL")
    return ChangeFeed("sqs", queue_url=url, backstop_seconds=backstop)


ENDPOINT_SERVICES = ("sts", "kms", "dynamodb", "s3", "secretsmanager", "ssm", "lambda", "dynamodbstreams", "sqs")


def _parse_endpoints(raw: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    unknown = sorted(set(raw) - set(ENDPOINT_SERVICES))
    if unknown:
        raise SpecError(f"endpoints: unknown service(s) {', '.join(unknown)}; known: {', '.join(ENDPOINT_SERVICES)}")
    return tuple(sorted((str(k), str(v)) for k, v in raw.items() if v))


def _parse_provider(provider: str, raw: dict[str, Any]) -> Provider:
    if provider == "credstash":
        return CredstashProvider(table=raw.get("table", "credential-store"), region=raw["region"],
                                 kms_key_id=raw.get("kmsKeyId", "alias/credstash"),
                                 algorithm=raw.get("algorithm", "credstash"),
                                 allow_generate=bool(raw.get("allowGenerate", False)))
    if provider == "wrap":
        return WrapProvider(table=raw["table"], region=raw["region"], mode=raw.get("mode", "direct"),
                            function_name=raw.get("functionName", "secrets-wrap"), kms_key_id=raw.get("kmsKeyId"))
    if provider == "s3":
        return S3Provider(bucket=raw["bucket"], prefix=raw.get("prefix", ""), region=raw["region"],
                          kms_key_id=raw.get("kmsKeyId", "alias/lazycred"))
    if provider == "secretsManager":
        return SecretsManagerProvider(region=raw["region"])
    path = raw.get("path") or None
    if path is not None and not re.match(r"^/[^ ]*$", path):
        raise SpecError(f"parameterStore.path {path!r} must start with '/'")
    return ParameterStoreProvider(region=raw["region"], path=path)


def _parse_condition(raw: dict[str, Any]) -> NamespaceCondition:
    selector = raw.get("namespaceSelector")
    condition = NamespaceCondition(namespaces=tuple(raw.get("namespaces") or ()),
                                   selector=parse_label_selector(selector) if selector is not None else None)
    if not condition.namespaces and condition.selector is None:
        raise SpecError("each of conditions[] needs namespaces or a namespaceSelector")
    return condition


def namespace_allowed(store: StoreSpec, namespace: str, labels: dict[str, str] | None) -> bool:
    """Whether a resource in `namespace` (with `labels`) may use the store. A cluster store without
    conditions serves every namespace; with conditions, any matching one allows."""
    if store.kind == NAMESPACED_KIND:
        return store.namespace == namespace
    if not store.conditions:
        return True
    return any(namespace in c.namespaces or (c.selector is not None and labels is not None
                                             and c.selector.matches(labels))
               for c in store.conditions)


def needs_namespace_labels(store: StoreSpec) -> bool:
    return any(c.selector is not None for c in store.conditions)


def _auth_namespace(ref: dict[str, Any], store_namespace: str | None, what: str) -> str:
    namespace = ref.get("namespace") or store_namespace
    if store_namespace is not None and namespace != store_namespace:
        raise SpecError(f"a namespaced store may only use {what} in its own namespace", reason="InvalidAuth")
    if namespace is None:
        raise SpecError(f"the namespace of {what} is required on a cluster store", reason="InvalidAuth")
    return str(namespace)


def _parse_auth(auth: dict[str, Any], store_namespace: str | None) -> StoreAuth:
    ref = auth.get("secretRef")
    secret_ref = None
    if ref:
        secret_ref = SecretKeyAuth(
            name=ref["name"], namespace=_auth_namespace(ref, store_namespace, "auth Secrets"),
            access_key_id_key=ref.get("accessKeyIdKey", "access-key-id"),
            secret_access_key_key=ref.get("secretAccessKeyKey", "secret-access-key"),
            session_token_key=ref.get("sessionTokenKey"))
    sa = (auth.get("jwt") or {}).get("serviceAccountRef")
    service_account = None
    if sa:
        if not auth.get("roleArn"):
            raise SpecError("auth.jwt needs auth.roleArn: the service account token is exchanged for that role",
                            reason="InvalidAuth")
        if secret_ref is not None:
            raise SpecError("give auth.secretRef or auth.jwt, not both", reason="InvalidAuth")
        service_account = ServiceAccountAuth(
            name=sa["name"], namespace=_auth_namespace(sa, store_namespace, "service accounts"),
            audiences=tuple(sa.get("audiences") or ("sts.amazonaws.com",)))
    return StoreAuth(secret_ref=secret_ref, service_account=service_account, role_arn=auth.get("roleArn"),
                     external_id=auth.get("externalId"))
