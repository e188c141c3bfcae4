"""CredentialStore / ClusterCredentialStore: where and how to read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stashsync.api.errors import SpecError

NAMESPACED_KIND = "CredentialStore"
CLUSTER_KIND = "ClusterCredentialStore"
PLURALS = {NAMESPACED_KIND: "credentialstores", CLUSTER_KIND: "clustercredentialstores"}
PROVIDERS = ("credstash", "wrap")


@dataclass(frozen=True)
class SecretKeyAuth:
    """Static AWS keys held in a Secret."""

    name: str
    namespace: str
    access_key_id_key: str = "access-key-id"
    secret_access_key_key: str = "secret-access-key"
    session_token_key: str | None = None


@dataclass(frozen=True)
class StoreAuth:
    secret_ref: SecretKeyAuth | None = None
    role_arn: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class CredstashProvider:
    table: str
    region: str
    kms_key_id: str
    algorithm: str


@dataclass(frozen=True)
class WrapProvider:
    """An aws-secrets-wrapper table; `direct` does the service side here, `lambda` invokes the service."""

    table: str
    region: str
    mode: str
    function_name: str
    kms_key_id: str | None  # the service key, needed only to wrap in direct mode


@dataclass(frozen=True)
class StoreSpec:
    kind: str
    name: str
    namespace: str | None  # None for cluster stores
    provider: str
    credstash: CredstashProvider | None
    wrap: WrapProvider | None
    endpoint: str | None
    auth: StoreAuth
    allowed_namespaces: tuple[str, ...] = field(default_factory=tuple)

    @property
    def region(self) -> str:
        provider = self.credstash or self.wrap
        assert provider is not None  # parse_store requires exactly one
        return provider.region


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
    credstash = wrap = None
    if provider == "credstash":
        c = spec["credstash"]
        credstash = CredstashProvider(table=c.get("table", "credential-store"), region=c["region"],
                                      kms_key_id=c.get("kmsKeyId", "alias/credstash"),
                                      algorithm=c.get("algorithm", "credstash"))
    else:
        w = spec["wrap"]
        wrap = WrapProvider(table=w["table"], region=w["region"], mode=w.get("mode", "direct"),
                            function_name=w.get("functionName", "secrets-wrap"), kms_key_id=w.get("kmsKeyId"))
    return StoreSpec(kind=kind, name=meta.get("name", ""), namespace=namespace, provider=provider,
                     credstash=credstash, wrap=wrap, endpoint=spec.get("endpoint"),
                     auth=_parse_auth(spec.get("auth") or {}, namespace))


def _parse_auth(auth: dict[str, Any], store_namespace: str | None) -> StoreAuth:
    ref = auth.get("secretRef")
    secret_ref = None
    if ref:
        namespace = ref.get("namespace") or store_namespace
        if store_namespace is not None and namespace != store_namespace:
            raise SpecError("a namespaced store may only read auth Secrets in its own namespace",
                            reason="InvalidAuth")
        if namespace is None:
            raise SpecError("auth.secretRef.namespace is required on a cluster store", reason="InvalidAuth")
        secret_ref = SecretKeyAuth(
            name=ref["name"], namespace=namespace,
            access_key_id_key=ref.get("accessKeyIdKey", "access-key-id"),
            secret_access_key_key=ref.get("secretAccessKeyKey", "secret-access-key"),
            session_token_key=ref.get("sessionTokenKey"))
    return StoreAuth(secret_ref=secret_ref, role_arn=auth.get("roleArn"), external_id=auth.get("externalId"))
