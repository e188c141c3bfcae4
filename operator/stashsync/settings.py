"""Operator settings, from the environment (the Helm chart sets these)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import kopf

from stashsync.api.tenancy import TenantPolicy, parse_tenant_policy
from stashsync.errors import SpecError

SHARD_SELECTOR = "STASHSYNC_SHARD_SELECTOR"


def parse_shard_selector(text: str) -> dict[str, Any] | None:
    """A kopf label filter: values are strings or kopf.PRESENT / kopf.ABSENT."""
    selector: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if key.startswith("!") and not sep:
            selector[key[1:].strip()] = kopf.ABSENT
        elif key and not sep:
            selector[key] = kopf.PRESENT
        elif key and value.strip():
            selector[key] = value.strip()
        else:
            raise SpecError(f"{SHARD_SELECTOR}: {part!r} is not key=value, key or !key")
    return selector or None


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = os.environ.get(name, "") or allowed[0]
    if value not in allowed:
        raise SpecError(f"{name} must be one of {', '.join(allowed)}")
    return value


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in os.environ.get(name, "").split(",") if p.strip())


@dataclass(frozen=True)
class Settings:
    # Namespace holding the operator's own Secret (the MAC key); the chart sets the release namespace.
    namespace: str = field(default_factory=lambda: os.environ.get("STASHSYNC_NAMESPACE", "stashsync-system"))
    # Watch only these namespaces (empty: the whole cluster).
    watch_namespaces: tuple[str, ...] = field(default_factory=lambda: _env_list("STASHSYNC_WATCH_NAMESPACES"))
    # Fraction of refreshInterval to spread refreshes by, so 10k objects do not fire together.
    refresh_jitter: float = field(default_factory=lambda: float(os.environ.get("STASHSYNC_REFRESH_JITTER", "0.1")))
    # Worker threads for blocking AWS calls, and how many of them one namespace's calls may hold at once.
    aws_workers: int = field(default_factory=lambda: int(os.environ.get("STASHSYNC_AWS_WORKERS", "32")))
    aws_workers_per_namespace: int = field(
        default_factory=lambda: int(os.environ.get("STASHSYNC_AWS_WORKERS_PER_NAMESPACE", "8")))
    # Threads for change feeds' long polls (never the ones above), and one namespace's share of them.
    long_poll_workers: int = field(default_factory=lambda: int(os.environ.get("STASHSYNC_LONG_POLL_WORKERS", "64")))
    long_polls_per_namespace: int = field(
        default_factory=lambda: int(os.environ.get("STASHSYNC_LONG_POLLS_PER_NAMESPACE", "4")))
    # SyncedSecret syncs running at once, and at most this many of them for one namespace (a tenant's
    # share: its many or slow objects never take every slot).
    sync_concurrency: int = field(default_factory=lambda: int(os.environ.get("STASHSYNC_SYNC_CONCURRENCY", "32")))
    sync_per_namespace: int = field(default_factory=lambda: int(os.environ.get("STASHSYNC_SYNC_PER_NAMESPACE", "8")))
    metrics_port: int = field(default_factory=lambda: int(os.environ.get("STASHSYNC_METRICS_PORT", "0")))
    # "kubernetes": metrics only for callers the API server says may get /metrics (TokenReview and
    # SubjectAccessReview); "none": for anyone who reaches the port (the chart sets kubernetes).
    metrics_auth: str = field(default_factory=lambda: _choice("STASHSYNC_METRICS_AUTH", ("none", "kubernetes")))
    # Address the metrics server binds; a hostNetwork pod binds its pod IP, not every host interface.
    metrics_addr: str = field(default_factory=lambda: os.environ.get("STASHSYNC_METRICS_ADDR", "0.0.0.0"))  # noqa: S104
    mac_key_secret: str = "stashsync-mac-key"
    # Validating webhook (kopf's server): off when the port is 0.
    webhook_port: int = field(default_factory=lambda: int(os.environ.get("STASHSYNC_WEBHOOK_PORT", "0")))
    webhook_addr: str = field(default_factory=lambda: os.environ.get("STASHSYNC_WEBHOOK_ADDR", "0.0.0.0"))  # noqa: S104
    # The name the apiserver reaches us by (URL host), when kopf manages the webhook configuration.
    webhook_host: str | None = field(default_factory=lambda: os.environ.get("STASHSYNC_WEBHOOK_HOST") or None)
    webhook_cert: str = field(default_factory=lambda: os.environ.get("STASHSYNC_WEBHOOK_CERT", ""))
    webhook_key: str = field(default_factory=lambda: os.environ.get("STASHSYNC_WEBHOOK_KEY", ""))
    webhook_ca: str = field(default_factory=lambda: os.environ.get("STASHSYNC_WEBHOOK_CA", ""))
    # A CA file: answer only clients whose certificate it signed (the apiserver's webhook client cert).
    webhook_client_ca: str = field(default_factory=lambda: os.environ.get("STASHSYNC_WEBHOOK_CLIENT_CA", ""))
    # Name of a ValidatingWebhookConfiguration kopf creates and keeps current; empty: the chart's own.
    webhook_managed: str = field(default_factory=lambda: os.environ.get("STASHSYNC_WEBHOOK_MANAGED", ""))
    # Seconds a replica's peering heartbeat stays valid (--peering): the standby's takeover delay.
    peering_lifetime: int = field(default_factory=lambda: int(os.environ.get("STASHSYNC_PEERING_LIFETIME", "20")))
    # What namespaced stores may do beyond their own identity (api/tenancy.py); the chart writes it.
    tenancy: TenantPolicy = field(default_factory=lambda: parse_tenant_policy(os.environ.get("STASHSYNC_TENANCY", "")))
    # Rotation restarts: a workload's restarts within this many seconds are made as one; at most
    # restart_max_concurrent rollouts run at a time (each until done, or restart_progress_timeout).
    restart_window: float = field(default_factory=lambda: float(os.environ.get("STASHSYNC_RESTART_WINDOW", "10")))
    restart_max_concurrent: int = field(
        default_factory=lambda: int(os.environ.get("STASHSYNC_RESTART_MAX_CONCURRENT", "10")))
    # How many of those rollouts one namespace's workloads may hold at once.
    restart_per_namespace: int = field(
        default_factory=lambda: int(os.environ.get("STASHSYNC_RESTART_PER_NAMESPACE", "3")))
    restart_progress_timeout: float = field(
        default_factory=lambda: float(os.environ.get("STASHSYNC_RESTART_PROGRESS_TIMEOUT", "300")))
    # Sharding for very large clusters: serve only the SyncedSecrets and WrappedSecrets whose labels
    # match (`key=value`, `key`, `!key`, comma-separated), so several Deployments split the objects;
    # stores are served by every shard. A kopf label filter, fixed when the handlers are registered.
    shard_labels: dict[str, Any] | None = field(
        default_factory=lambda: parse_shard_selector(os.environ.get(SHARD_SELECTOR, "")))

    @property
    def shard_selector(self) -> str:
        """The shard as a Kubernetes label selector, for watches filtered by the apiserver."""
        parts = []
        for key, wanted in (self.shard_labels or {}).items():
            parts.append(key if wanted is kopf.PRESENT else f"!{key}" if wanted is kopf.ABSENT else f"{key}={wanted}")
        return ",".join(parts)

    def in_shard(self, labels: dict[str, str]) -> bool:
        """Whether an object with these labels is this operator's (kopf's label filter semantics)."""
        for key, wanted in (self.shard_labels or {}).items():
            if wanted is kopf.PRESENT:
                if key not in labels:
                    return False
            elif wanted is kopf.ABSENT:
                if key in labels:
                    return False
            elif labels.get(key) != wanted:
                return False
        return True
