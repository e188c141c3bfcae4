"""SyncedSecret handlers. One refresh loop (a kopf daemon) per object does every sync, so there is
one writer per Secret; spec changes and Secret edits only wake it."""

from __future__ import annotations

import contextlib
import copy
import time
from typing import Any

import kopf

from stashsync import metrics
from stashsync.api import conditions as cond
from stashsync.api import target_name
from stashsync.api.syncedsecret import parse_synced_secret
from stashsync.controllers import events
from stashsync.controllers.memo import OperatorMemo, WrittenSecrets
from stashsync.controllers.stores import StoreIndexes
from stashsync.controllers.sync_flow import KIND, forced_sync, sync
from stashsync.controllers.wakers import wait_for_wake
from stashsync.crypto import mac
from stashsync.errors import SpecError
from stashsync.kube import secrets


async def refresh_loop(stopped: kopf.DaemonStopped, body: kopf.Body, namespace: str | None, name: str,
                       logger: kopf.Logger, memo: OperatorMemo, credentialstore_index: kopf.Index[Any, Any],
                       clustercredentialstore_index: kopf.Index[Any, Any], **_: Any) -> None:
    namespace = str(namespace)  # namespaced resource: always set
    key = (namespace, name)
    indexes = StoreIndexes(credentialstore_index, clustercredentialstore_index)
    wake = memo.wakers.register(key)
    failures = 0
    try:
        while not stopped:
            wake.clear()
            snapshot = copy.deepcopy(dict(body))  # the live body changes under us; sync one version of it
            previous = cond.ready_condition(snapshot.get("status"))
            started = time.monotonic()
            outcome = await sync(snapshot, indexes.store_body_for(snapshot.get("spec") or {}, namespace), memo,
                                 failures)
            metrics.RECONCILE_SECONDS.labels(kind=KIND).observe(time.monotonic() - started)
            failures = 0 if outcome.ok else failures + 1
            _announce(snapshot, previous, outcome.ok, outcome.reason, outcome.message, outcome.wrote, logger)
            await wait_for_wake(stopped, wake, outcome.next_seconds)
    finally:
        memo.wakers.unregister(key)
        memo.versions.unsubscribe(key)
        memo.templates.unsubscribe(key)


def _announce(body: dict[str, Any], previous: dict[str, Any] | None, ok: bool, reason: str, message: str,
              wrote: bool, logger: kopf.Logger) -> None:
    """Events and logs on state changes only, so a failing object does not flood the cluster."""
    if ok and wrote:
        events.normal(body, "Synced", message)
        logger.info("secret written", extra={"reason": reason})
    elif not ok and cond.says_something_new(previous, ok, reason, message):
        events.warning(body, reason, message)
        logger.warning("sync failed: %s", message, extra={"reason": reason})


def secret_changed(event: kopf.RawEvent, namespace: str, name: str, owner_name: str, body: kopf.Body,
                   memo: OperatorMemo) -> None:
    """Someone edited or deleted a Secret we manage: wake its owner to restore it."""
    written = memo.written.get((namespace, name))
    if written is None:
        return  # not written by this process yet; its refresh loop checks it on its first sync
    uid, written_mac = written
    if event.get("type") == "DELETED" or not mac.matches(memo.mac_key, uid, secrets.decode(body.get("data")),
                                                        written_mac):
        memo.wakers.wake((namespace, owner_name))


def _remember_written(namespace: str, uid: str | None, status: dict[str, Any], written: WrittenSecrets) -> None:
    """After a restart nothing is remembered as written until an object writes again (with refreshInterval 0,
    never): the status records what was last written, so an edit of the Secret is caught all the same.
    Every object is listed when the watch starts, so this runs before any Secret event matters."""
    secret_name, data_mac = status.get("secretName"), status.get("dataMAC")
    if uid and secret_name and data_mac:
        written.remember_if_unknown((namespace, str(secret_name)), uid, str(data_mac))


def spec_changed(event: kopf.RawEvent, namespace: str | None, name: str, body: kopf.Body, memo: OperatorMemo,
                 **_: Any) -> None:
    """A new generation, or a new force-sync annotation, wakes the refresh loop at once instead of at
    its next refresh or failure backoff, whether the object ever synced or not. The Ready condition
    records the generation of the last attempt, failed or not, and each force-sync value wakes once,
    so our own status patches wake nothing."""
    key = (str(namespace), name)
    status = dict(body.status)
    _remember_written(str(namespace), body.metadata.get("uid"), status, memo.written)
    attempted = (cond.ready_condition(status) or {}).get("observedGeneration")
    if event.get("type") == "MODIFIED" and attempted is not None and body.metadata.get("generation") != attempted:
        memo.wakers.wake(key)
    forced = forced_sync(dict(body))
    if forced is not None and memo.force_seen.get(key) != forced:
        memo.force_seen[key] = forced
        memo.wakers.wake(key)


async def release_target(body: kopf.Body, namespace: str | None, name: str, memo: OperatorMemo, **_: Any) -> None:
    namespace = str(namespace)
    raw = copy.deepcopy(dict(body))
    memo.force_seen.pop((namespace, name), None)
    memo.restarts.forget((namespace, name))
    try:
        target = parse_synced_secret(raw).target
    except SpecError:
        await memo.secrets.release(namespace, target_name(raw), secrets.Owner.of(raw))
        return
    await memo.secrets.release(namespace, target.name, secrets.Owner.of(raw), target.deletion_policy)
    memo.written.forget((namespace, target.name))
    for series in (metrics.LAST_SUCCESS, metrics.REFRESH_INTERVAL):
        with contextlib.suppress(KeyError):  # never synced (successfully): no series to drop
            series.remove(KIND, namespace, name)


def configmap_changed(namespace: str | None, name: str, memo: OperatorMemo, **_: Any) -> None:
    """A ConfigMap changed: wake the SyncedSecrets rendering a template from it."""
    memo.templates.changed((str(namespace), "ConfigMap", name))


def template_secret_changed(namespace: str | None, name: str, memo: OperatorMemo, **_: Any) -> None:
    """A Secret labelled as a template changed: wake the SyncedSecrets rendering it."""
    memo.templates.changed((str(namespace), "Secret", name))
