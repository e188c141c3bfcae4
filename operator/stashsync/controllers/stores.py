"""Store handlers: indexes for lookups by name, validation on change and every few minutes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import kopf

from stashsync.api import conditions as cond
from stashsync.api.stores import CLUSTER_KIND, PLURALS, parse_store
from stashsync.api.tenancy import check_store
from stashsync.controllers import events
from stashsync.controllers.memo import OperatorMemo
from stashsync.errors import StashError
from stashsync.kube.status import set_condition

REVALIDATE_SECONDS = 300.0  # a Ready store is checked again this often
# A store that is not Ready (e.g. its auth Secret is missing) sooner: after this, then twice as long
# after each failed check, up to RECHECK_NOT_READY_MAX_SECONDS (a namespace's thousand broken stores
# cost little, and a fixed auth Secret is noticed within a minute).
RECHECK_NOT_READY_SECONDS = 15.0
RECHECK_NOT_READY_MAX_SECONDS = 60.0


def lookup(index: kopf.Index[Any, dict[str, Any]], key: Any) -> dict[str, Any] | None:
    store = index.get(key)
    return next(iter(store), None) if store is not None else None


@dataclass(frozen=True)
class StoreIndexes:
    """kopf's two store indexes, as handlers receive them (arguments named after the index functions)."""

    namespaced: kopf.Index[Any, dict[str, Any]]
    cluster: kopf.Index[Any, dict[str, Any]]

    def store_body_for(self, spec: dict[str, Any], namespace: str) -> dict[str, Any] | None:
        """The store a spec's storeRef names; a namespaced store only in `namespace`."""
        ref = spec.get("storeRef") or {}
        if ref.get("kind") == CLUSTER_KIND:
            return lookup(self.cluster, ref.get("name"))
        return lookup(self.namespaced, (namespace, ref.get("name")))


def credentialstore_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {(namespace, name): {"metadata": dict(body.metadata), "spec": dict(body.spec),
                                "status": dict(body.status), "kind": "CredentialStore"}}


def clustercredentialstore_index(name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {name: {"metadata": dict(body.metadata), "spec": dict(body.spec), "status": dict(body.status),
                   "kind": CLUSTER_KIND}}


async def validate_store(body: kopf.Body, logger: kopf.Logger, memo: OperatorMemo, **_: Any) -> None:
    raw = {"kind": body["kind"], "metadata": dict(body.metadata), "spec": dict(body.spec), "status": dict(body.status)}
    generation = int(body.metadata.get("generation", 0))
    memo.store_checked[body.metadata["uid"]] = time.monotonic()
    shown: dict[str, str] = {}  # the provider and location printer columns
    try:
        store = parse_store(raw)
        shown = {"provider": store.provider, "location": store.location}
        check_store(store, memo.settings.tenancy)
        uid = body.metadata["uid"]
        handle = await memo.resolver.build(store, uid, generation)
        served = handle.wrap if handle.wrap is not None else handle.reader()
        await handle.run(served.validate)
        ok, reason, message = True, "Valid", f"{store.provider} store is reachable"
    except StashError as exc:
        ok, reason, message = False, exc.reason, exc.message
    stale = any(raw["status"].get(k) != v for k, v in shown.items())
    if cond.says_something_new(cond.ready_condition(raw["status"]), ok, reason, message) or stale:
        # Through set_condition: the store's change feed writes FeedReady beside Ready.
        meta = body.metadata
        await set_condition(memo.api, PLURALS[body["kind"]], meta.get("namespace"), meta["name"], "Ready", ok, reason,
                            message, extra=shown, generation=generation)
        (events.normal if ok else events.warning)(body, reason, message)
        logger.info("store validated", extra={"ready": ok, "reason": reason})


async def revalidate_store(body: kopf.Body, logger: kopf.Logger, memo: OperatorMemo, **_: Any) -> None:
    """Not-Ready stores are checked again soon, backing off while they stay broken (a missing auth
    Secret or table may appear); Ready ones only every few minutes."""
    ready = cond.ready_condition(dict(body.status))
    uid, generation = body.metadata["uid"], int(body.metadata.get("generation", 0))
    since = time.monotonic() - memo.store_checked.get(uid, 0.0)
    failed = memo.store_failures.get(uid)
    failures = failed[1] if failed is not None and failed[0] == generation else 0  # a new spec starts afresh
    if ready is not None and ready.get("status") == "True":
        memo.store_failures.pop(uid, None)
        due = REVALIDATE_SECONDS
    else:
        due = min(RECHECK_NOT_READY_MAX_SECONDS, RECHECK_NOT_READY_SECONDS * 2 ** min(failures, 8))
    if ready is None or since >= due:
        if ready is not None and ready.get("status") != "True":
            memo.store_failures[uid] = (generation, failures + 1)
        await validate_store(body, logger, memo)


def forget_store(uid: str, memo: OperatorMemo, **_: Any) -> None:
    memo.store_checked.pop(uid, None)
    memo.store_failures.pop(uid, None)
    memo.resolver.forget(uid)
