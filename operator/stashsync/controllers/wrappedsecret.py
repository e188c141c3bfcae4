"""WrappedSecret handlers: unwrap once on create/resume/update until done; afterwards only watch
that the Secret is still there."""

from __future__ import annotations

import copy
from typing import Any

import kopf
from kubernetes_asyncio import client

from stashsync.api import conditions as cond
from stashsync.api.wrappedsecret import parse_wrapped_secret
from stashsync.controllers import events
from stashsync.controllers.memo import OperatorMemo
from stashsync.controllers.stores import StoreIndexes
from stashsync.controllers.unwrap_flow import (
    PLURAL,
    UnwrapOutcome,
    keep_target,
    mark_lost,
    read_token,
    target_names,
    unwrap,
)
from stashsync.errors import StashError
from stashsync.kube import secrets
from stashsync.kube.status import get_object

RETRY_SECONDS = 15


def _announce(body: dict[str, Any], previous: dict[str, Any] | None, outcome: UnwrapOutcome) -> None:
    if outcome.ok:
        events.normal(body, outcome.reason, outcome.message)
    elif cond.says_something_new(previous, outcome.ok, outcome.reason, outcome.message):
        events.warning(body, outcome.reason, outcome.message)


async def unwrap_once(body: kopf.Body, namespace: str | None, logger: kopf.Logger, memo: OperatorMemo,
                      credentialstore_index: kopf.Index[Any, Any], clustercredentialstore_index: kopf.Index[Any, Any],
                      **_: Any) -> None:
    """Safe to run any number of times: after success it only checks that the Secret is kept."""
    raw = copy.deepcopy(dict(body))
    previous = cond.ready_condition(raw.get("status"))
    if (raw.get("status") or {}).get("consumedAt"):
        # Done for good: never unwrap again; follow a renamed target, tell the user if the Secret went away.
        if (previous or {}).get("reason") == "SecretLost":
            return
        kept = await keep_target(memo, raw)
        if kept is not None:
            _announce(raw, previous, kept)
        return
    indexes = StoreIndexes(credentialstore_index, clustercredentialstore_index)
    outcome = await unwrap(raw, indexes.store_body_for(raw.get("spec") or {}, str(namespace)), memo)
    _announce(raw, previous, outcome)
    logger.info("unwrap finished" if outcome.ok else "unwrap not done", extra={"reason": outcome.reason})
    if not outcome.final:
        raise kopf.TemporaryError(f"{outcome.reason}; retrying", delay=RETRY_SECONDS)


async def release(body: kopf.Body, namespace: str | None, memo: OperatorMemo,
                  credentialstore_index: kopf.Index[Any, Any], clustercredentialstore_index: kopf.Index[Any, Any],
                  **_: Any) -> None:
    """Delete our Secret with us; give back a claim left by an unwrap that never finished."""
    raw = copy.deepcopy(dict(body))
    namespace = str(namespace)
    for target in set(target_names(raw)):
        await memo.secrets.release(namespace, target, secrets.Owner.of(raw))
    if (raw.get("status") or {}).get("consumedAt"):
        return
    try:
        spec = parse_wrapped_secret(raw)
        token = await read_token(memo.secrets, spec, namespace)
        indexes = StoreIndexes(credentialstore_index, clustercredentialstore_index)
        store = await memo.resolver.resolve(indexes.store_body_for(raw.get("spec") or {}, namespace),
                                            spec.store_kind, spec.store_name, namespace=namespace)
        await store.run(store.wrap_service().release, token, raw["metadata"]["uid"])
    except StashError:
        pass  # nothing claimed that we can reach; a claim left behind expires with the token


async def secret_deleted(api: client.ApiClient, namespace: str, owner_name: str, secret_name: str) -> None:
    """The Secret of a WrappedSecret was deleted: if it had been unwrapped, the value is gone for good."""
    body = await get_object(api, PLURAL, namespace, owner_name)
    if body is None or not (body.get("status") or {}).get("consumedAt"):
        return  # not finished yet: its unwrap writes the Secret again
    if target_names(body)[0] != secret_name:
        return  # the Secret it moved away from after a rename
    previous = cond.ready_condition(body.get("status"))
    if (previous or {}).get("reason") == "SecretLost":
        return
    _announce(body, previous, await mark_lost(api, body))
