"""Change feed readers: one loop per store that declares `changeFeed` (a kopf daemon on the store, so
kopf's peering and the operator's lifetime govern it: only the active replica reads, and a takeover
starts reading anew). Each change wakes exactly the SyncedSecrets reading the credential that
changed, through the shared version index; their syncs check the version once for all of them.

While the feed is read, those objects poll only at the store's backstopInterval; when the feed
breaks (no stream, no permission, a queue that is gone), the store shows FeedReady=False with a
Warning event, every reader is woken once, and polling at each object's own refreshInterval takes
over until the feed works again. A restart of the operator loses nothing: every object syncs when
its loop starts, before any feed is needed."""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import kopf
from kubernetes_asyncio import client

from stashsync import metrics
from stashsync.api import patterns
from stashsync.api.stores import PLURALS, StoreSpec, parse_store
from stashsync.api.tenancy import check_feed, check_store
from stashsync.controllers import events
from stashsync.controllers.memo import OperatorMemo
from stashsync.controllers.wakers import sleep_unless_stopped
from stashsync.errors import StashError
from stashsync.feeds.dynamodb_stream import StreamReader
from stashsync.feeds.events import Change, ForeignEvent, from_message
from stashsync.feeds.sqs import Message, QueueReader
from stashsync.kube.client import api_error
from stashsync.kube.status import set_condition
from stashsync.sources.base import CredentialRef, Source
from stashsync.sources.registry import StoreHandle

logger = logging.getLogger(__name__)
RETRY_SECONDS = 30.0  # a broken feed is tried again this often
STREAM_POLL_SECONDS = 1.0  # DynamoDB Streams allows 5 GetRecords per second per shard
FEED_READY = "FeedReady"
NOT_ALLOWED = "FeedNotAllowed"
FOREIGN = "ForeignEvent"  # the stashsync_feed_errors_total reason of a dropped message (not a Ready reason)


def has_change_feed(spec: kopf.Spec, **_: Any) -> bool:
    return bool(spec.get("changeFeed"))


async def feed_loop(stopped: kopf.DaemonStopped, body: kopf.Body, memo: OperatorMemo, **_: Any) -> None:
    identity = ""  # the store (StoreIdentity.store) whose feed is read
    previous: tuple[bool, str, str] | None = None
    while not stopped:
        raw = copy.deepcopy(dict(body))
        generation = raw["metadata"].get("generation")
        try:
            store = parse_store(raw)
            check_store(store, memo.settings.tenancy)
            check_feed(store, memo.settings.tenancy)
            handle = await memo.resolver.build(store, raw["metadata"]["uid"], int(generation or 0))
            if identity and identity != handle.identity.store:
                memo.feeds.broken(identity)  # the store's previous generation
            identity = handle.identity.store
            reader = _reader(store, handle)
            await handle.run(reader.open)
            previous = await _report(memo, raw, True, "FeedReading", _describe(store), previous)
            # Objects stretch their timers to the backstop from their next sync on.
            memo.feeds.reading(identity, store.change_feed.backstop_seconds if store.change_feed else 0.0)
            await _read(stopped, body, generation, store, handle, reader, memo)
        except StashError as exc:
            metrics.FEED_ERRORS.labels(feed=_kind(raw), reason=exc.reason).inc()
            if identity:
                memo.feeds.broken(identity)
                memo.versions.wake_store(identity)  # back to their own refreshInterval now
            if exc.reason == NOT_ALLOWED:
                previous = await _report(memo, raw, False, NOT_ALLOWED, f"change feed not read, polling instead: "
                                         f"{exc.message}", previous)
            else:
                previous = await _report(memo, raw, False, "FeedBroken", f"change feed not read, polling instead "
                                         f"({exc.reason}): {exc.message}", previous)
            await sleep_unless_stopped(stopped, RETRY_SECONDS)
        except client.ApiException as exc:
            logger.warning("change feed status not written: %s", api_error(exc).message)
            await sleep_unless_stopped(stopped, RETRY_SECONDS)
    if identity:
        memo.feeds.broken(identity)


def _kind(raw: dict[str, Any]) -> str:
    feed = (raw.get("spec") or {}).get("changeFeed") or {}
    return "dynamodbStream" if "dynamodbStream" in feed else "sqs"


def _describe(store: StoreSpec) -> str:
    feed = store.change_feed
    if feed is not None and feed.kind == "sqs":
        return "reading its SQS queue (spec.changeFeed.sqs.queueUrl)"
    return f"reading the DynamoDB stream of {store.location}"


def _reader(store: StoreSpec, handle: StoreHandle) -> StreamReader | QueueReader:
    feed = store.change_feed
    assert feed is not None  # the daemon runs only for stores with a changeFeed
    if feed.kind == "sqs":
        return QueueReader(handle.clients, feed.queue_url)
    credstash = store.credstash
    assert credstash is not None  # parse_store allows dynamodbStream on credstash stores only
    return StreamReader(handle.clients, credstash.table)


async def _read(stopped: kopf.DaemonStopped, body: kopf.Body, generation: Any, store: StoreSpec,
                handle: StoreHandle, reader: StreamReader | QueueReader, memo: OperatorMemo) -> None:
    """Until stopped or the spec changes; a StashError ends it (the caller reports the feed broken)."""
    source = handle.reader()
    feed = "sqs" if isinstance(reader, QueueReader) else "dynamodbStream"
    where = store.namespace + "/" + store.name if store.namespace else store.name
    while not stopped and body["metadata"].get("generation") == generation:
        if isinstance(reader, QueueReader):
            messages = await handle.run_long_poll(reader.receive)
            changes = [c for m in messages for c in _changes(m, feed)]
            await _wake(memo, handle, source, changes, feed, where)
            await handle.run(reader.delete, messages)  # only once their wake-ups are queued
        else:
            poll = await handle.run(reader.poll)
            metrics.FEED_EVENTS_RECEIVED.labels(feed=feed).inc(len(poll.changes))
            if poll.gap:  # records may have been missed: every reader checks
                memo.versions.wake_store(handle.identity.store)
            await _wake(memo, handle, source, poll.changes, feed, where)
            await sleep_unless_stopped(stopped, STREAM_POLL_SECONDS)


def _changes(message: Message, feed: str) -> list[Change]:
    metrics.FEED_EVENTS_RECEIVED.labels(feed=feed).inc()
    try:
        changes = from_message(message.body)
    except ForeignEvent as exc:
        metrics.FEED_ERRORS.labels(feed=feed, reason=FOREIGN).inc()
        logger.info("change feed message dropped: %s", exc)  # a fixed reason: the body may hold anything
        return []
    return [c if c.at is not None else Change(c.service, c.name, message.sent_at) for c in changes]


async def _wake(memo: OperatorMemo, handle: StoreHandle, source: Source, changes: list[Change], feed: str,
                where: str) -> None:
    if not changes:
        return
    store = handle.identity.store
    keys = {c.key for c in changes}
    changed_names = sorted({n for k in keys if (n := source.name_in_feed(k)) is not None})
    listings = memo.versions.listing_patterns(store)
    # Patterns compile in a worker thread (in the store's tenant's share), never on the event loop.
    listed = await memo.workers.calls.run(handle.tenant, _listing, listings, changed_names) \
        if listings and changed_names else set()

    def changed(ref: CredentialRef) -> bool:
        return source.feed_name(ref.name) in keys

    if memo.versions.wake_matching(store, changed, lambda pattern: pattern in listed):
        metrics.FEED_EVENTS_MATCHED.labels(feed=feed).inc(len(changes))
    newest = max((c.at for c in changes if c.at is not None), default=None)
    if newest is not None:
        metrics.FEED_LAG.labels(store=where).set(max(0.0, time.time() - newest))


def _listing(listings: set[str], names: list[str]) -> set[str]:
    """The dataFrom patterns that may list one of `names` now (a new one, say)."""
    found = set()
    for pattern in listings:
        try:
            if patterns.matching(names, pattern):
                found.add(pattern)
        except patterns.PatternError:
            continue  # its own objects report it when they list
    return found


async def _report(memo: OperatorMemo, raw: dict[str, Any], ok: bool, reason: str, message: str,
                  previous: tuple[bool, str, str] | None) -> tuple[bool, str, str]:
    """The store's FeedReady condition and an event, when they change."""
    now = (ok, reason, message)
    if now != previous:
        meta = raw["metadata"]
        await set_condition(memo.api, PLURALS[raw["kind"]], meta.get("namespace"), meta["name"], FEED_READY, ok,
                            reason, message)
        (events.normal if ok else events.warning)(raw, reason, message)
    return now

