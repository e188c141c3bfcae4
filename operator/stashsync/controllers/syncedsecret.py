"""SyncedSecret handlers. The scheduler (controllers/scheduler.py) runs every sync, one at a time per
object, so there is one writer per Secret; watch events keep its copy of the object and wake it."""

from __future__ import annotations

import contextlib
import copy
import json
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
from stashsync.crypto import mac
from stashsync.errors import SpecError
from stashsync.kube import secrets

Key = tuple[str, str]


def compact(body: kopf.Body) -> bytes:
    """The object as the scheduler keeps it: JSON, without managedFields (nothing reads them)."""
    raw = dict(body)
    raw["metadata"] = {k: v for k, v in body.metadata.items() if k != "managedFields"}
    return json.dumps(raw, separators=(",", ":")).encode()


def sync_runner(memo: OperatorMemo, indexes: StoreIndexes) -> Any:
    """The scheduler's RunSync: one sync of the body last seen, and its events and logs."""
    settings = kopf.OperatorSettings()  # only until start-up has handed over kopf's own

    async def run(key: Key, raw: bytes, failures: int) -> tuple[bool, float | None]:
        snapshot = json.loads(raw)  # a private copy: the next watch event replaces the scheduler's
        previous = cond.ready_condition(snapshot.get("status"))
        started = time.monotonic()
        outcome = await sync(snapshot, indexes.store_body_for(snapshot.get("spec") or {}, key[0]), memo, failures)
        metrics.RECONCILE_SECONDS.labels(kind=KIND).observe(time.monotonic() - started)
        logger = kopf.LocalObjectLogger(body=kopf.Body(snapshot), settings=memo.kopf_settings or settings)
        _announce(snapshot, previous, outcome.ok, outcome.reason, outcome.message, outcome.wrote, logger)
        return outcome.ok, outcome.next_seconds

    return run


def _announce(body: dict[str, Any], previous: dict[str, Any] | None, ok: bool, reason: str, message: str,
              wrote: bool, logger: kopf.LocalObjectLogger) -> None:
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
        memo.syncs.wake((namespace, owner_name))


def _remember_written(namespace: str, uid: str | None, status: dict[str, Any], written: WrittenSecrets) -> None:
    """After a restart nothing is remembered as written until an object writes again (with refreshInterval 0,
    never): the status records what was last written, so an edit of the Secret is caught all the same.
    Every object is listed when the watch starts, so this runs before any Secret event matters."""
    secret_name, data_mac = status.get("secretName"), status.get("dataMAC")
    if uid and secret_name and data_mac:
        written.remember_if_unknown((namespace, str(secret_name)), uid, str(data_mac))


async def synced_secret_event(event: kopf.RawEvent, namespace: str | None, name: str, body: kopf.Body,
                              memo: OperatorMemo, credentialstore_index: kopf.Index[Any, Any],
                              clustercredentialstore_index: kopf.Index[Any, Any], **_: Any) -> None:
    """Every watch event of a SyncedSecret: the scheduler keeps the object as last seen (a new one
    syncs at once) and forgets it when it is deleted or leaves this operator's shard. A new
    generation, or a new force-sync annotation, wakes it at once instead of at its next refresh or
    failure backoff. The Ready condition records the generation of the last attempt, failed or not,
    and each force-sync value wakes once, so our own status patches wake nothing."""
    if not memo.serving:  # kopf's indexes are live views: the same objects from now on
        memo.start_syncs(sync_runner(memo, StoreIndexes(credentialstore_index, clustercredentialstore_index)))
    key = (str(namespace), name)
    in_shard = memo.settings.in_shard(body.metadata.get("labels") or {})
    if event.get("type") == "DELETED" and in_shard and not needs_release(body):
        await release_target(body, namespace, name, memo)  # gone for good, with no finalizer to wait for us
        return
    if event.get("type") == "DELETED" or body.metadata.get("deletionTimestamp") or not in_shard:
        memo.syncs.discard(key)  # the deletion handler waits for a sync running now
        return
    status = dict(body.status)
    _remember_written(str(namespace), body.metadata.get("uid"), status, memo.written)
    if memo.syncs.track(key, compact(body)):
        return  # new: due at once
    attempted = (cond.ready_condition(status) or {}).get("observedGeneration")
    if event.get("type") == "MODIFIED" and attempted is not None and body.metadata.get("generation") != attempted:
        memo.syncs.wake(key)
    forced = forced_sync(dict(body))
    if forced is not None and memo.force_seen.get(key) != forced:
        memo.force_seen[key] = forced
        memo.syncs.wake(key)


def needs_release(body: kopf.Body, **_: Any) -> bool:
    """Whether the object's deletion must wait for the operator (our finalizer): the Secret is kept
    without our marks (Retain, Orphan) or only our keys leave it (Merge). The default, a Secret we
    create, own and delete with the object, needs no wait: its owner reference lets the cluster's
    garbage collector delete it, and the operator releases it as soon as it sees the object gone. A
    finalizer costs every object one more write and one more watch event. The raw fields are read,
    not the parsed spec: an invalid spec still says how its Secret was made."""
    target = (body.get("spec") or {}).get("target") or {}
    return bool(target.get("creationPolicy", "Owner") != "Owner" or target.get("deletionPolicy", "Delete") != "Delete")


async def release_target(body: kopf.Body, namespace: str | None, name: str, memo: OperatorMemo, **_: Any) -> None:
    namespace = str(namespace)
    await memo.syncs.remove((namespace, name))  # no sync of it runs from here on
    memo.versions.unsubscribe((namespace, name))
    memo.templates.unsubscribe((namespace, name))
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


async def configmap_changed(namespace: str | None, name: str, memo: OperatorMemo, **_: Any) -> None:
    """A ConfigMap changed: wake the SyncedSecrets rendering a template from it."""
    memo.templates.changed((str(namespace), "ConfigMap", name))


async def template_secret_changed(namespace: str | None, name: str, memo: OperatorMemo, **_: Any) -> None:
    """A Secret labelled as a template changed: wake the SyncedSecrets rendering it."""
    memo.templates.changed((str(namespace), "Secret", name))
