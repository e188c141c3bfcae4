"""Validating admission (kopf's webhook server): refuse what the CRD schema cannot, with the same
checks the controllers apply, so a mistake is an error at `kubectl apply` instead of Ready=False.

Every request is a tenant's input, and a dry run costs its sender nothing: the work one request can
buy is bounded before anything is parsed. The server takes at most MAX_REVIEW_BYTES per request, holds
at most MAX_WAITING_REVIEWS requests, and reviews MAX_CONCURRENT_REVIEWS at a time, in turns per
namespace (the object's), at most REVIEWS_PER_NAMESPACE of them for one namespace, which may have
WAITING_PER_NAMESPACE more waiting; beyond that it answers 429, which the apiserver treats as the
webhook's failurePolicy says, for that namespace only. A spec is size-checked as it is parsed
(templates, patterns); templates are parsed and patterns compiled in a child process with a memory
and time budget (stashsync.sandbox: a pool of its own, so reviews never take the renders' turns),
never in the operator. With STASHSYNC_WEBHOOK_CLIENT_CA the server answers only clients with a certificate from
that CA: the apiserver, configured to present one (AdmissionConfiguration's kubeConfigFile).

Enabled by STASHSYNC_WEBHOOK_PORT (see settings); without it the routing table registers none of these."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any, Literal

import aiohttp.web
import kopf

from stashsync.api.clustersyncedsecret import parse_cluster_synced_secret
from stashsync.api.stores import parse_store
from stashsync.api.syncedsecret import parse_synced_secret
from stashsync.api.tenancy import TenantPolicy, check_feed, check_store
from stashsync.api.wrappedsecret import parse_wrapped_secret
from stashsync.controllers.memo import OperatorMemo
from stashsync.crypto.template import TemplateRenderError
from stashsync.errors import SpecError
from stashsync.fairness import FairSlots
from stashsync.sandbox import TemplateSandbox
from stashsync.settings import Settings

OPERATIONS: list[Literal["CREATE", "UPDATE"]] = ["CREATE", "UPDATE"]
MAX_REVIEW_BYTES = 1024 * 1024  # aiohttp's own limit on a request body, refused here before it is read
MAX_CONCURRENT_REVIEWS = 4
REVIEWS_PER_NAMESPACE = 2
MAX_WAITING_REVIEWS = 32  # each holds its body (1 MiB at most) while it waits
WAITING_PER_NAMESPACE = 4  # with REVIEWS_PER_NAMESPACE, well under MAX_WAITING_REVIEWS: five namespaces fit
READ_SECONDS = 5.0  # a body sent slower than this is refused, so slow senders cannot hold the server


async def check_synced_secret(body: dict[str, Any], sandbox: TemplateSandbox, tenant: str) -> None:
    spec = parse_synced_secret(body)
    if spec.data_from:
        try:
            refused = await sandbox.refused_patterns([f.pattern for f in spec.data_from], tenant=tenant)
        except TemplateRenderError as exc:
            raise SpecError(str(exc)) from None
        if refused:
            raise SpecError(f"dataFrom[{refused[0]}].find is not a valid regular expression, or compiles to more "
                            "than RE2 may use (RE2 syntax: no backreferences or lookaround; fewer or smaller "
                            "counted repeats)")
    template = spec.target.template
    if template is None or spec.data_from:  # names found at sync time cannot be known here
        return
    try:
        unknown = await sandbox.unknown_keys(template, {d.key for d in spec.data}, tenant=tenant)
    except TemplateRenderError as exc:
        raise SpecError(str(exc), reason="TemplateError") from None
    if unknown:
        # The names come from the request's own template and go back only to its sender.
        where = "; ".join(f"{key!r} uses {', '.join(sorted(names))}" for key, names in sorted(unknown.items()))
        raise SpecError(f"target.template names keys that spec.data does not define: {where}",
                        reason="TemplateError")


async def check_cluster_synced_secret(body: dict[str, Any], sandbox: TemplateSandbox) -> None:
    """Its own fields, then its SyncedSecret spec as each namespace will get it."""
    spec = parse_cluster_synced_secret(body)
    try:
        await check_synced_secret({"metadata": {"name": spec.child_name}, "spec": spec.child_spec}, sandbox, "")
    except SpecError as exc:
        raise SpecError(f"syncedSecretSpec: {exc.message}", reason=exc.reason) from None


def store_checker(policy: TenantPolicy) -> Any:
    """A store must parse and ask for no more than its tenant is entitled to."""
    def check(body: dict[str, Any]) -> None:
        store = parse_store(body)
        check_store(store, policy)
        check_feed(store, policy)
    return check


def _refusal(exc: SpecError) -> kopf.AdmissionError:
    return kopf.AdmissionError(exc.message, code=422)


def _tenant(body: kopf.Body) -> str:
    return str(body.get("metadata", {}).get("namespace") or "")


async def refuse_synced_secret(body: kopf.Body, memo: OperatorMemo, **_: Any) -> None:
    try:
        await check_synced_secret(dict(body), memo.admission_checks, _tenant(body))
    except SpecError as exc:
        raise _refusal(exc) from None


async def refuse_cluster_synced_secret(body: kopf.Body, memo: OperatorMemo, **_: Any) -> None:
    try:
        await check_cluster_synced_secret(dict(body), memo.admission_checks)
    except SpecError as exc:
        raise _refusal(exc) from None


def refuse_wrapped_secret(body: kopf.Body, **_: Any) -> None:
    try:
        parse_wrapped_secret(dict(body))
    except SpecError as exc:
        raise _refusal(exc) from None


def store_refuser(policy: TenantPolicy) -> Any:
    check = store_checker(policy)

    def refuse_store(body: kopf.Body, **_: Any) -> None:
        try:
            check(dict(body))
        except SpecError as exc:
            raise _refusal(exc) from None
    return refuse_store


class BoundedWebhookServer(kopf.WebhookServer):
    """kopf's server, taking a bounded amount of work whoever sends it (see the module's docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._reviewing = FairSlots(MAX_CONCURRENT_REVIEWS, REVIEWS_PER_NAMESPACE)
        self._held = 0

    async def _serve(self, fn: Any, request: aiohttp.web.Request) -> aiohttp.web.Response:  # type: ignore[override]
        if request.content_length is not None and request.content_length > MAX_REVIEW_BYTES:
            raise aiohttp.web.HTTPRequestEntityTooLarge(max_size=MAX_REVIEW_BYTES,
                                                        actual_size=request.content_length)
        if self._held >= MAX_WAITING_REVIEWS:
            raise aiohttp.web.HTTPTooManyRequests()
        self._held += 1
        try:
            try:  # read once: kopf's own reading takes it from aiohttp
                text = await asyncio.wait_for(request.text(), READ_SECONDS)
            except TimeoutError:
                raise aiohttp.web.HTTPRequestTimeout() from None
            tenant = _namespace_of(text)
            if self._reviewing.waiting(tenant) >= WAITING_PER_NAMESPACE:
                raise aiohttp.web.HTTPTooManyRequests()
            async with self._reviewing.slot(tenant):
                return await kopf.WebhookServer._serve(fn, request)
        finally:
            self._held -= 1


def _namespace_of(text: str) -> str:
    """The namespace of the object an AdmissionReview is about ("" for cluster-scoped objects, or for a
    body that is not a review: kopf refuses it)."""
    try:
        review = json.loads(text)
    except ValueError:
        return ""
    request = review.get("request") if isinstance(review, dict) else None
    namespace = request.get("namespace") if isinstance(request, dict) else None
    return namespace if isinstance(namespace, str) else ""


def webhook_server(settings: Settings) -> kopf.WebhookServer:
    """TLS with the given certificate (e.g. from cert-manager), or kopf's self-signed one; with a client
    CA, only clients presenting a certificate it signed are answered."""
    client_auth: dict[str, Any] = {}
    if settings.webhook_client_ca:
        client_auth = {"verify_mode": ssl.CERT_REQUIRED, "verify_cafile": settings.webhook_client_ca}
    return BoundedWebhookServer(addr=settings.webhook_addr, port=settings.webhook_port, host=settings.webhook_host,
                                certfile=settings.webhook_cert or None, pkeyfile=settings.webhook_key or None,
                                cafile=settings.webhook_ca or None, **client_auth)
