"""Validating admission (kopf's webhook server): refuse what the CRD schema cannot, with the same
checks the controllers apply, so a mistake is an error at `kubectl apply` instead of Ready=False.

Enabled by STASHSYNC_WEBHOOK_PORT (see settings); without it the routing table registers none of these."""

from __future__ import annotations

from typing import Any, Literal

import kopf

from stashsync.api.clustersyncedsecret import parse_cluster_synced_secret
from stashsync.api.stores import parse_store
from stashsync.api.syncedsecret import parse_synced_secret
from stashsync.api.tenancy import TenantPolicy, check_store
from stashsync.api.wrappedsecret import parse_wrapped_secret
from stashsync.crypto.template import TemplateRenderError, unknown_keys
from stashsync.errors import SpecError
from stashsync.settings import Settings

OPERATIONS: list[Literal["CREATE", "UPDATE"]] = ["CREATE", "UPDATE"]


def check_synced_secret(body: dict[str, Any]) -> None:
    spec = parse_synced_secret(body)
    template = spec.target.template
    if template is None or spec.data_from:  # names found at sync time cannot be known here
        return
    try:
        unknown = unknown_keys(template, {d.key for d in spec.data})
    except TemplateRenderError as exc:
        raise SpecError(str(exc), reason="TemplateError") from None
    if unknown:
        where = "; ".join(f"{key!r} uses {', '.join(sorted(names))}" for key, names in sorted(unknown.items()))
        raise SpecError(f"target.template names keys that spec.data does not define: {where}",
                        reason="TemplateError")


def check_cluster_synced_secret(body: dict[str, Any]) -> None:
    """Its own fields, then its SyncedSecret spec as each namespace will get it."""
    spec = parse_cluster_synced_secret(body)
    try:
        check_synced_secret({"metadata": {"name": spec.child_name}, "spec": spec.child_spec})
    except SpecError as exc:
        raise SpecError(f"syncedSecretSpec: {exc.message}", reason=exc.reason) from None


def store_checker(policy: TenantPolicy) -> Any:
    """A store must parse and ask for no more than its tenant is entitled to."""
    def check(body: dict[str, Any]) -> None:
        check_store(parse_store(body), policy)
    return check


def _refuse(check: Any, body: kopf.Body) -> None:
    try:
        check(dict(body))
    except SpecError as exc:
        raise kopf.AdmissionError(exc.message, code=422) from None


def refuse_synced_secret(body: kopf.Body, **_: Any) -> None:
    _refuse(check_synced_secret, body)


def refuse_cluster_synced_secret(body: kopf.Body, **_: Any) -> None:
    _refuse(check_cluster_synced_secret, body)


def refuse_wrapped_secret(body: kopf.Body, **_: Any) -> None:
    _refuse(parse_wrapped_secret, body)


def store_refuser(policy: TenantPolicy) -> Any:
    check = store_checker(policy)

    def refuse_store(body: kopf.Body, **_: Any) -> None:
        _refuse(check, body)
    return refuse_store


def webhook_server(settings: Settings) -> kopf.WebhookServer:
    """TLS with the given certificate (e.g. from cert-manager), or kopf's self-signed one."""
    return kopf.WebhookServer(addr=settings.webhook_addr, port=settings.webhook_port, host=settings.webhook_host,
                              certfile=settings.webhook_cert or None, pkeyfile=settings.webhook_key or None,
                              cafile=settings.webhook_ca or None)

