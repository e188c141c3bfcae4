"""The shared version index: version checks (and dataFrom listings) made once per credential, not
once per object that reads it.

Every SyncedSecret that reads a credential subscribes to it. When a sync needs the credential's
version, it reuses the last check if that check was made after this object's previous sync (and
within its refresh interval); otherwise it checks, and every other subscriber arriving later reuses
that check. N objects on one credential therefore make one check per (shortest) interval instead of
N. A check that finds a new version wakes the other subscribers at once, so none waits for its own
timer to notice. Identical checks in flight at the same moment are made once.

A credential is keyed by the store's identity: its uid and generation, and the AWS session the check
was made with (sources.registry.StoreIdentity). A cluster store on the operator's own identity serves
many namespaces with one session, so they share checks; one with a role has a session per namespace,
so a namespace never reuses a check (or a listing) its own role could not have made. Whether a
namespace may use the store at all (its `conditions`) is decided before the index is asked.

A check's result is shared; its failure is not. An error may come from the input of the object whose
sync made the check (a pattern, a name), so the objects that waited for it check again on their own,
and each sees only errors its own input or its own session caused. Nor is its wait: a check in flight
waits in the turns of the namespace that made it (its budget, its threads), so an object of another
namespace joins it for at most JOIN_SECONDS, then checks on its own. Values are never kept here; only
versions and names.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stashsync.sources.registry import StoreIdentity

JOIN_SECONDS = 1.0  # how long an object waits for another namespace's check in flight before making its own

Subscriber = tuple[str, str]  # (namespace, name) of the object
CheckKey = Hashable  # (StoreIdentity, "version", CredentialRef) or (StoreIdentity, "find", pattern, tags)
Checker = Callable[[list[Any]], Awaitable[list[Any]]]


@dataclass
class _Entry:
    result: Any
    seq: int  # which check produced `result`; checks are numbered in the order they finish
    checked_at: float  # monotonic
    started: int  # when the check that produced `result` began (same numbering)
    used: dict[Subscriber, int] = field(default_factory=dict)  # subscriber -> seq of the result it last used
    fresh_after: int = 0  # a change feed said it changed then: only a check begun later is current


class VersionIndex:
    def __init__(self, wake: Callable[[Subscriber], None]) -> None:
        self._wake = wake
        self._entries: dict[CheckKey, _Entry] = {}
        # Checks in flight, by key and by the namespace whose sync made them (each waits in its turns).
        self._inflight: dict[CheckKey, dict[str, asyncio.Future[Any]]] = {}
        self._keys_of: dict[Subscriber, set[CheckKey]] = {}
        # Per store identity: its credentials' version keys, the one checked longest ago first.
        self._checked_order: dict[StoreIdentity, OrderedDict[CheckKey, None]] = {}
        self._seq = itertools.count(1)
        self.checks = 0  # keys checked at the source, for tests and benchmarks

    def __len__(self) -> int:
        return len(self._entries)

    def subscribers(self, key: CheckKey) -> set[Subscriber]:
        entry = self._entries.get(key)
        return set(entry.used) if entry is not None else set()

    def _usable(self, subscriber: Subscriber, key: CheckKey, max_age: float) -> bool:
        entry = self._entries.get(key)
        return (entry is not None and entry.seq > entry.used.get(subscriber, 0) and entry.started > entry.fresh_after
                and time.monotonic() - entry.checked_at <= max_age)

    def begin(self) -> int:
        """A number for a read about to start (see `record`)."""
        return next(self._seq)

    def _use(self, subscriber: Subscriber, key: CheckKey) -> Any:
        entry = self._entries[key]
        entry.used[subscriber] = entry.seq
        self._keys_of.setdefault(subscriber, set()).add(key)
        return entry.result

    def record(self, subscriber: Subscriber | None, keys: Sequence[CheckKey], results: Sequence[Any],
               started: int) -> None:
        """Results of a read begun at `started` (a check, or a read of every value) for `subscriber`
        (None: checked along for the subscribers it has): a result that differs from the last one wakes
        the other subscribers. A read that began before the one already recorded is older news and is
        not kept."""
        for key, result in zip(keys, results, strict=True):
            entry = self._entries.get(key)
            seq = next(self._seq)
            if entry is None:
                if subscriber is None:
                    continue  # nobody reads it any more
                self._entries[key] = _Entry(result, seq, time.monotonic(), started)
                self._checked_now(key)
            elif started >= entry.started:  # else older news than the result recorded: not kept
                changed = entry.result != result
                entry.result, entry.seq, entry.checked_at, entry.started = result, seq, time.monotonic(), started
                self._checked_now(key)
                if changed:
                    for other in entry.used:
                        if other != subscriber:
                            self._wake(other)
            if subscriber is not None:
                self._use(subscriber, key)

    def _checked_now(self, key: CheckKey) -> None:
        identity = _version_identity(key)
        if identity is not None:
            order = self._checked_order.setdefault(identity, OrderedDict())
            order.pop(key, None)
            order[key] = None

    def take_along(self, identity: StoreIdentity, namespace: str, skip: Collection[CheckKey], limit: int,
                   scan: int = 64) -> list[CheckKey]:
        """Up to `limit` version keys of store `identity` that objects of `namespace` read, checked
        longest ago and not being checked now (looking at the `scan` oldest): what a check with room
        to spare takes along, since their objects are the next due. Only keys that namespace reads:
        it checks them with its own AWS session. The keys taken go to the back of the order, answered
        or not, so one that no check answers along (a deleted secret, say) does not take the room of
        every check after it."""
        picked: list[CheckKey] = []
        order = self._checked_order.get(identity)
        if order is None:
            return picked
        for looked, key in enumerate(order):
            if looked >= scan or len(picked) >= limit:
                break
            entry = self._entries.get(key)
            if (entry is not None and key not in skip and key not in self._inflight
                    and any(reader[0] == namespace for reader in entry.used)):
                picked.append(key)
        for key in picked:
            order.move_to_end(key)
        return picked

    def peek(self, subscriber: Subscriber, keys: Sequence[CheckKey], max_age: float) -> list[Any] | None:
        """The results `get` would reuse for every key without a check, or None when any needs one.
        Nothing is marked as used (see `adopt`)."""
        if not all(self._usable(subscriber, key, max_age) for key in keys):
            return None
        return [self._entries[key].result for key in keys]

    def adopt(self, subscriber: Subscriber, keys: Sequence[CheckKey]) -> None:
        """Mark the results `peek` returned as used by `subscriber`, which subscribes it as `get` does."""
        for key in keys:
            self._use(subscriber, key)

    async def get(self, subscriber: Subscriber, keys: Sequence[CheckKey], check: Checker,
                  max_age: float) -> list[Any]:
        """The result for each key: reused when checked since this subscriber's previous use and at
        most `max_age` seconds ago, else taken from a check already in flight, else checked (all
        such keys in one `check` call). A check in flight that fails is not taken: the key is then
        checked for this subscriber alone, and only that check's error is its own; so is one of
        another namespace that has not answered within JOIN_SECONDS."""
        found: dict[CheckKey, Any] = {}
        wanted = list(dict.fromkeys(keys))
        alone: set[CheckKey] = set()  # keys whose shared check failed: checked by this subscriber itself
        while len(found) < len(wanted):
            for key in wanted:
                if key not in found and key not in alone and self._usable(subscriber, key, max_age):
                    found[key] = self._use(subscriber, key)
            mine = [k for k in wanted if k not in found and (k in alone or k not in self._inflight)]
            if mine:
                found.update(zip(mine, await self._check(subscriber, mine, check), strict=True))
            waiting = {k: joined for k in wanted if k not in found and (joined := self._joinable(k, subscriber[0]))}
            if waiting:
                foreign = any(namespace != subscriber[0] for _, namespace in waiting.values())
                await asyncio.wait([f for f, _ in waiting.values()], timeout=JOIN_SECONDS if foreign else None)
            for key, (future, namespace) in waiting.items():
                if not future.done():
                    if namespace != subscriber[0]:
                        alone.add(key)  # still waiting in another namespace's turns: not this one's wait
                    continue
                if future.cancelled():
                    continue  # its object was stopped mid-check: the next round checks again
                if future.exception() is not None:
                    alone.add(key)  # another object's check failed: its error is not this one's
                    continue
                found[key] = future.result()
                entry = self._entries.get(key)
                if entry is not None:
                    self._use(subscriber, key)
        return [found[k] for k in keys]

    def _joinable(self, key: CheckKey, namespace: str) -> tuple[asyncio.Future[Any], str] | None:
        """The check of `key` in flight to wait for: this namespace's own, else another's."""
        checks = self._inflight.get(key)
        if not checks:
            return None
        owner = namespace if namespace in checks else next(iter(checks))
        return checks[owner], owner

    def _done(self, key: CheckKey, namespace: str, future: asyncio.Future[Any]) -> None:
        checks = self._inflight.get(key)
        if checks is not None and checks.get(namespace) is future:
            del checks[namespace]
            if not checks:
                del self._inflight[key]

    async def _check(self, subscriber: Subscriber, keys: list[CheckKey], check: Checker) -> list[Any]:
        loop = asyncio.get_running_loop()
        futures = {k: loop.create_future() for k in keys}
        for future in futures.values():
            future.add_done_callback(_consume)
        for key, future in futures.items():
            self._inflight.setdefault(key, {})[subscriber[0]] = future
        started = self.begin()
        try:
            results = await check(keys)
        except BaseException as exc:
            for key, future in futures.items():
                self._done(key, subscriber[0], future)
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            raise
        self.checks += len(keys)
        self.record(subscriber, keys, results, started)
        for (key, future), result in zip(futures.items(), results, strict=True):
            self._done(key, subscriber[0], future)
            future.set_result(result)
        return list(results)

    def wake_matching(self, store: str, changed: Callable[[Any], bool], listed: Callable[[str], bool]) -> int:
        """A change feed says credentials changed in store `store` (StoreIdentity.store, any session):
        wake every subscriber of a version key whose credential `changed(ref)` matches, and of every
        dataFrom listing whose pattern `listed(pattern)` says a changed name matches (it may be new).
        Returns how many were woken. Their syncs check anew (the checks they hold are the ones they
        already used), once for all of them."""
        woken: set[Subscriber] = set()
        mark = self.begin()
        for key, entry in self._entries.items():
            if not (isinstance(key, tuple) and len(key) >= 3 and isinstance(key[0], StoreIdentity)
                    and key[0].store == store):
                continue
            if (key[1] == "find" and listed(key[2])) or (key[1] == "version" and changed(key[2])):
                woken.update(entry.used)
                entry.fresh_after = mark
                self._inflight.pop(key, None)  # a check begun before the change may not see it
        for subscriber in woken:
            self._wake(subscriber)
        return len(woken)

    def listing_patterns(self, store: str) -> set[str]:
        """The dataFrom patterns listed in store `store` (any session)."""
        return {str(key[2]) for key in self._entries if isinstance(key, tuple) and len(key) >= 3
                and isinstance(key[0], StoreIdentity) and key[0].store == store and key[1] == "find"}

    def wake_store(self, store: str) -> int:
        """Wake every subscriber of the store (a feed that may have missed changes)."""
        return self.wake_matching(store, lambda _: True, lambda _: True)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """The object is gone: forget it, and every entry nobody reads any more."""
        for key in self._keys_of.pop(subscriber, set()):
            entry = self._entries.get(key)
            if entry is None:
                continue
            entry.used.pop(subscriber, None)
            if not entry.used:
                del self._entries[key]
                self._forget_order(key)

    def _forget_order(self, key: CheckKey) -> None:
        identity = _version_identity(key)
        order = self._checked_order.get(identity) if identity is not None else None
        if identity is not None and order is not None:
            order.pop(key, None)
            if not order:
                del self._checked_order[identity]


def _version_identity(key: CheckKey) -> StoreIdentity | None:
    """The store identity of a version key ((identity, "version", ref)); None for other keys."""
    if isinstance(key, tuple) and len(key) >= 3 and key[1] == "version" and isinstance(key[0], StoreIdentity):
        return key[0]
    return None


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark a failed check's error as seen, so asyncio does not log it when no other object waited."""
    if not future.cancelled():
        future.exception()


@dataclass(frozen=True)
class Subscription:
    """One object's view of the index during one sync."""

    index: VersionIndex
    subscriber: Subscriber
    max_age: float  # the object's refresh interval; 0: every check is its own

    async def get(self, keys: Sequence[CheckKey], check: Checker) -> list[Any]:
        return await self.index.get(self.subscriber, keys, check, self.max_age)

    def peek(self, keys: Sequence[CheckKey], max_age: float) -> list[Any] | None:
        return self.index.peek(self.subscriber, keys, min(max_age, self.max_age))

    def adopt(self, keys: Sequence[CheckKey]) -> None:
        self.index.adopt(self.subscriber, keys)

    def begin(self) -> int:
        return self.index.begin()

    def record(self, keys: Sequence[CheckKey], results: Sequence[Any], started: int) -> None:
        self.index.record(self.subscriber, keys, results, started)

    def record_along(self, keys: Sequence[CheckKey], results: Sequence[Any], started: int) -> None:
        """Results checked along with this object's own, for the objects that read those keys."""
        self.index.record(None, keys, results, started)
