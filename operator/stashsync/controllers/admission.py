"""Validating admission (kopf's webhook server): refuse what the CRD schema cannot, with the same
checks the controllers apply, so a mistake is an error at `kubectl apply` instead of Ready=False.

Enabled by STASHSYNC_WEBHOOK_PORT (see settings); without it these handlers are not registered."""

from __future__ import annotations

from typing import Any, Literal

import kopf

from stashsync.api import GROUP, VERSION
from stashsync.api.stores import PLURALS, parse_store
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


def register(settings: Settings) -> None:
    if not settings.webhook_port:
        return
    kopf.on.validate(GROUP, VERSION, "syncedsecrets", operations=OPERATIONS, id="syncedsecret")(
        lambda body, **_: _refuse(check_synced_secret, body))
    kopf.on.validate(GROUP, VERSION, "wrappedsecrets", operations=OPERATIONS, id="wrappedsecret")(
        lambda body, **_: _refuse(parse_wrapped_secret, body))
    check_store_body = store_checker(settings.tenancy)
    for plural in PLURALS.values():
        kopf.on.validate(GROUP, VERSION, plural, operations=OPERATIONS, id=plural)(
            lambda body, **_: _refuse(check_store_body, body))


def webhook_server(settings: Settings) -> kopf.WebhookServer:
    """TLS with the given certificate (e.g. from cert-manager), or kopf's self-signed one."""
    return kopf.WebhookServer(addr=settings.webhook_addr, port=settings.webhook_port, host=settings.webhook_host,
                              certfile=settings.webhook_cert or None, pkeyfile=settings.webhook_key or None,
                              cafile=settings.webhook_ca or None)


register(Settings())
