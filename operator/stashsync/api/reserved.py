"""What a target Secret may never be or carry, whoever asks: Secret types and label or annotation keys
that make Kubernetes, Helm or the operator itself act on a Secret. A tenant who could set them would
have the token controller fill in a service-account token, forge a Helm release record that the next
`helm rollback` trusts, or pass a Secret off as the operator's own.

Checked when a spec is parsed (a condition, and a refusal at admission) and again on every write
(kube/secrets.py), for every creation policy."""

from __future__ import annotations

from stashsync.errors import SpecError

# Types whose Secrets Kubernetes or Helm manage: never created, never merged into, never read as a template.
RESERVED_TYPES = frozenset({"kubernetes.io/service-account-token", "bootstrap.kubernetes.io/token",
                            "helm.sh/release.v1"})
# Key prefixes owned by others: the token controller (kubernetes.io/service-account.name|uid), Helm's
# ownership metadata, and stashsync's own marks (owner, managed keys, templates).
OUR_PREFIX = "stashsync.dev/"
RESERVED_PREFIXES = ("kubernetes.io/service-account.", "meta.helm.sh/", "helm.sh/", OUR_PREFIX)
# Whole keys owned by others: who manages the Secret; Helm's release storage finds its records by
# the label owner=helm (with name, status and version), whatever their type.
MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
RESERVED_KEYS = frozenset({MANAGED_BY_KEY})
HELM_OWNER = ("owner", "helm")


def reserved_type(secret_type: str) -> bool:
    return secret_type in RESERVED_TYPES


def check_target(secret_type: str, labels: dict[str, str], annotations: dict[str, str], where: str,
                 with_our_marks: bool = False) -> None:
    """Raise SpecError (reason SecretTypeNotAllowed) when a target asks for what is reserved. The
    message names the field and the reserved key, never a value. `with_our_marks`: the metadata of a
    Secret about to be written, which carries stashsync's own marks (added by the operator)."""
    if reserved_type(secret_type):
        raise SpecError(f"{where}.type {secret_type} is managed by Kubernetes or Helm; stashsync never writes one",
                        reason="SecretTypeNotAllowed")
    prefixes = tuple(p for p in RESERVED_PREFIXES if not (with_our_marks and p == OUR_PREFIX))
    keys_reserved = RESERVED_KEYS - ({MANAGED_BY_KEY} if with_our_marks else set())
    for field, keys in (("labels", labels), ("annotations", annotations)):
        for key in keys:
            if key in keys_reserved or key.startswith(prefixes):
                raise SpecError(f"{where}.{field}: {_shown(key)} is set by Kubernetes, Helm or stashsync, never by a "
                                "target", reason="SecretTypeNotAllowed")
    if labels.get(HELM_OWNER[0]) == HELM_OWNER[1]:
        raise SpecError(f"{where}.labels: owner=helm marks Helm's release records; a target never carries it",
                        reason="SecretTypeNotAllowed")


def _shown(key: str) -> str:
    """The reserved prefix or key a tenant's key matched (never the rest of its text)."""
    return next((p + "*" for p in RESERVED_PREFIXES if key.startswith(p)), key if key in RESERVED_KEYS else "a key")
