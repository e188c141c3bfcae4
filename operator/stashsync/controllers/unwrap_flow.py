"""One WrappedSecret, unwrapped at most once and never lost:
token -> store -> (already written? finish) -> claim -> open both layers -> write Secret -> consume -> status.

A crash between any two steps is recovered by running the flow again: the claim names this
WrappedSecret, so only it can continue; the Secret carries the token's SHA-256, so a written value
is recognised; consume is a transaction that leaves a tombstone, so "already consumed" is known."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client

from stashsync import errors, faults, metrics
from stashsync.api import conditions as cond
from stashsync.api import target_name
from stashsync.api.wrappedsecret import WrappedSecretSpec, parse_wrapped_secret
from stashsync.controllers.memo import OperatorMemo
from stashsync.crypto import wrap as wrapfmt
from stashsync.errors import StashError
from stashsync.kube import limits, secrets
from stashsync.kube.client import api_error
from stashsync.kube.status import write_ready
from stashsync.reasons import Retry, retry_of
from stashsync.sources import wrap as wrapsrc
from stashsync.values.reencrypt import encrypt_values

PLURAL = "wrappedsecrets"
KIND = "WrappedSecret"
TOKEN_HASH_ANNOTATION = "stashsync.dev/token-sha256"


@dataclass(frozen=True)
class UnwrapOutcome:
    ok: bool
    reason: str
    message: str

    @property
    def final(self) -> bool:
        """Reported once, not retried: a token never changes, so what waits for a change never comes
        (a spec change runs the handler again anyway)."""
        return self.ok or retry_of(self.reason) in (Retry.ON_CHANGE, Retry.NEVER)


async def read_token(kube_secrets: secrets.Secrets, spec: WrappedSecretSpec, namespace: str) -> str:
    if spec.token:
        return spec.token
    secret = await kube_secrets.read(namespace, str(spec.token_secret_name))
    if secret is None:
        raise errors.SourceError(f"token Secret {spec.token_secret_name!r} not found")
    value = secrets.decode(secret.get("data")).get(spec.token_secret_key)
    if not value:
        raise errors.SourceError(f"token Secret {spec.token_secret_name!r} has no key {spec.token_secret_key!r}")
    try:
        return value.decode().strip()
    except UnicodeDecodeError:
        raise errors.SourceError(f"token Secret {spec.token_secret_name!r} key {spec.token_secret_key!r} is not "
                               "text; a wrap token is printable ASCII") from None


def _written_by_us(existing: dict[str, Any] | None, owner: secrets.Owner, token_hash: str) -> bool:
    return secrets.created_by(existing or {}, owner) and secrets.annotations_of(existing or {}).get(
        TOKEN_HASH_ANNOTATION) == token_hash


async def unwrap(body: dict[str, Any], store_body: dict[str, Any] | None, memo: OperatorMemo) -> UnwrapOutcome:
    meta = body["metadata"]
    namespace, uid = meta["namespace"], meta["uid"]
    owner = secrets.Owner.of(body)
    prefix: str | None = None
    try:
        spec = parse_wrapped_secret(body)
        token = await read_token(memo.secrets, spec, namespace)
        token_hash = wrapfmt.token_sha256(token)
        prefix = token_hash[:16]
        store = await memo.resolver.resolve(store_body, spec.store_kind, spec.store_name, namespace=namespace)
        clients, service = store.clients, store.wrap_service()
        existing = await memo.secrets.read(namespace, spec.target_name)
        if not _written_by_us(existing, owner, token_hash):
            # Before claiming: a claim that cannot end in a Secret only runs the token's TTL down.
            secrets.check_replaceable(existing, spec.target_name, owner, secrets.RENAME_HINT)
            claimed = await store.run(service.claim, token, uid)
            if claimed.get("consumed"):  # consumed by us before a crash, but the Secret is not there
                return await _report(memo.api, body, prefix, False, "SecretLost",
                                     "the token was consumed but its Secret is gone; the value cannot be recovered")
            faults.crash_point("claimed")
            plaintext = await store.run(wrapsrc.open_client_layer, clients, claimed)
            data = wrapfmt.secret_data(limits.check_fits(spec.target_name, plaintext), spec.target_key)
            if spec.encryption is not None:
                data = await encrypt_values(data, spec.encryption, clients, namespace, spec.target_name)
            desired = secrets.DesiredSecret(
                namespace=namespace, name=spec.target_name, type=spec.target_type, data=data, labels=spec.labels,
                annotations={**spec.annotations, TOKEN_HASH_ANNOTATION: token_hash})
            await memo.secrets.write(desired, owner, "Owner", existing=existing, hint=secrets.RENAME_HINT)
            faults.crash_point("written")
            ttl = int(claimed.get("ttl", 0))
        else:
            ttl = 0
        # The value is safe in our Secret: consume (or finish what a crash left). An item gone already,
        # e.g. deleted by the table's own TTL after our claim, leaves nothing to consume: still success.
        with contextlib.suppress(wrapsrc.TokenNotFound):
            await store.run(service.consume, token, uid, ttl)
        faults.crash_point("consumed")
        metrics.WRAP_TOKENS_CONSUMED.inc()
        return await _report(memo.api, body, prefix, True, "Unwrapped",
                             f"the token's value is in Secret {spec.target_name!r}", consumed=True,
                             secret_name=spec.target_name)
    except (StashError, client.ApiException) as exc:
        failure = exc if isinstance(exc, StashError) else api_error(exc)
        return await _report(memo.api, body, prefix, False, failure.reason, failure.message)


def target_names(body: dict[str, Any]) -> tuple[str, str]:
    """(the Secret the value was written to, the Secret the spec names now)."""
    wanted = target_name(body)
    return str((body.get("status") or {}).get("secretName") or wanted), str(wanted)


async def keep_target(memo: OperatorMemo, body: dict[str, Any]) -> UnwrapOutcome | None:
    """After success: the Secret must still be there (if not, say so: the value is gone by design), and
    where the spec says. A renamed target.name moves the value, since the old Secret is its only copy."""
    namespace = body["metadata"]["namespace"]
    written, wanted = target_names(body)
    owner = secrets.Owner.of(body)
    api = memo.api
    current = await memo.secrets.read(namespace, written)
    if current is None or not secrets.created_by(current, owner):
        return await mark_lost(api, body)
    if wanted == written:
        return None
    prefix = (body.get("status") or {}).get("tokenSHA256Prefix")
    try:
        spec = parse_wrapped_secret(body)
        annotations = {**spec.annotations, TOKEN_HASH_ANNOTATION: secrets.annotations_of(current).get(
            TOKEN_HASH_ANNOTATION, "")}
        desired = secrets.DesiredSecret(namespace=namespace, name=wanted, type=current.get("type", "Opaque"),
                                        data=secrets.decode(current.get("data")), labels=spec.labels,
                                        annotations=annotations)
        await memo.secrets.write(desired, owner, "Owner", hint=secrets.RENAME_HINT)
    except StashError as exc:  # the value stays where it is
        return await _report(api, body, prefix, False, exc.reason, f"{exc.message}; the value stays in {written!r}")
    # Status first: the old Secret's deletion must not read as the loss of the value.
    moved = await _report(api, body, prefix, True, "Unwrapped", f"the token's value moved to Secret {wanted!r}",
                          secret_name=wanted)
    await memo.secrets.release(namespace, written, owner)
    return moved


async def mark_lost(api: client.ApiClient, body: dict[str, Any]) -> UnwrapOutcome:
    status = body.get("status") or {}
    return await _report(api, body, status.get("tokenSHA256Prefix"), False, "SecretLost",
                         "the Secret holding the unwrapped value was deleted; the token was single-use, so the "
                         "value cannot be unwrapped again: wrap a new token and create a new WrappedSecret")


async def _report(api: client.ApiClient, body: dict[str, Any], prefix: str | None, ok: bool, reason: str, message: str,
                  consumed: bool = False, secret_name: str | None = None) -> UnwrapOutcome:
    extra: dict[str, Any] = {}
    if prefix:
        extra["tokenSHA256Prefix"] = prefix
    if consumed:
        extra["consumedAt"] = cond.now()
    if secret_name:
        extra["secretName"] = secret_name
    await write_ready(api, PLURAL, body, ok, reason, message, extra)
    metrics.SYNCS.labels(kind="WrappedSecret", reason=reason).inc()
    return UnwrapOutcome(ok, reason, message)
