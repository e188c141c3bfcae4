"""WrappedSecret: a one-time wrap token and the Secret it becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stashsync.api import target_name
from stashsync.api.encryption import EncryptionSpec, parse_encryption
from stashsync.api.reserved import check_target
from stashsync.api.stores import parse_store_ref
from stashsync.errors import SpecError


@dataclass(frozen=True)
class WrappedSecretSpec:
    store_kind: str
    store_name: str
    token: str | None  # inline; never logged
    token_secret_name: str | None
    token_secret_key: str
    target_name: str
    target_key: str = "value"
    target_type: str = "Opaque"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    encryption: EncryptionSpec | None = None


def parse_wrapped_secret(body: dict[str, Any]) -> WrappedSecretSpec:
    spec = body.get("spec") or {}
    kind, store_name = parse_store_ref(spec)
    ref = spec.get("tokenSecretRef")
    if bool(spec.get("token")) == bool(ref):
        raise SpecError("set exactly one of token and tokenSecretRef")
    target = spec.get("target") or {}
    check_target(target.get("type", "Opaque"), dict(target.get("labels") or {}),
                 dict(target.get("annotations") or {}), "target")
    return WrappedSecretSpec(
        store_kind=kind, store_name=store_name, token=spec.get("token"),
        token_secret_name=(ref or {}).get("name"), token_secret_key=(ref or {}).get("key", "token"),
        target_name=target_name(body), target_key=target.get("key", "value"),
        target_type=target.get("type", "Opaque"), labels=dict(target.get("labels") or {}),
        annotations=dict(target.get("annotations") or {}), encryption=parse_encryption(spec))
