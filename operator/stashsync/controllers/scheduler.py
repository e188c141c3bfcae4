"""When each SyncedSecret syncs next, and who runs it: one scheduler for all of them instead of a task
per object (10,000 idle tasks and their frames cost more memory than the objects themselves).

Due syncs wait in one queue per namespace; the namespaces are served in turn, at most `concurrency`
syncs run at once and at most `per_namespace` of them for one namespace. So a tenant with many
objects, or with a store that answers slowly, holds at most its share of the slots: another
namespace's sync starts in its turn, not after the whole backlog."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Key = tuple[str, str]  # (namespace, name)
# One sync of `key` from the body last seen (JSON), after `failures` failed syncs in a row:
# (succeeded, seconds until the next sync; None: only when woken).
RunSync = Callable[[Key, bytes, int], Awaitable[tuple[bool, float | None]]]

FAILED_UNEXPECTEDLY_SECONDS = 30.0  # a sync that raised (a bug, not a reported failure) is tried again then
logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Entry:
    body: bytes  # the object as last seen, JSON: a third of the memory of the parsed dict
    due_seq: int = -1  # which heap item is current (older ones are skipped); -1: none
    failures: int = 0
    queued: bool = False  # due, waiting for a slot
    running: bool = False
    again: bool = False  # woken while running: sync again as soon as it ends


class SyncScheduler:
    def __init__(self, concurrency: int, per_namespace: int) -> None:
        self.concurrency = max(1, concurrency)
        self.per_namespace = max(1, min(per_namespace, self.concurrency))
        self._entries: dict[Key, _Entry] = {}
        self._heap: list[tuple[float, int, Key]] = []
        self._seq = itertools.count()
        self._queues: dict[str, deque[Key]] = {}  # due and waiting, per namespace
        self._turns: deque[str] = deque()  # namespaces with waiting syncs, in serving order
        self._running: dict[Key, asyncio.Task[None]] = {}
        self._running_in: Counter[str] = Counter()
        self._changed = asyncio.Event()
        self._stopping = False

    def __contains__(self, key: Key) -> bool:
        return key in self._entries

    def track(self, key: Key, body: bytes) -> bool:
        """Keep `key`'s latest body; a new key is due at once. True if the key was new."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.body = body
            return False
        self._entries[key] = _Entry(body)
        self._due(key, self._entries[key], 0.0)
        return True

    def wake(self, key: Key) -> None:
        """Sync `key` now (or once more right after the sync running now)."""
        entry = self._entries.get(key)
        if entry is None or entry.queued:
            return
        if entry.running:
            entry.again = True
        else:
            self._due(key, entry, 0.0)

    def waiting(self, namespace: str, limit: int) -> list[bytes]:
        """The bodies of the syncs waiting for a slot in `namespace`, the next first (at most `limit`)."""
        bodies = []
        for key in itertools.islice(self._queues.get(namespace, ()), limit):
            entry = self._entries.get(key)
            if entry is not None and entry.queued:
                bodies.append(entry.body)
        return bodies

    def discard(self, key: Key) -> None:
        """Stop scheduling `key` (a sync running now ends as it would)."""
        self._entries.pop(key, None)

    async def remove(self, key: Key) -> None:
        """Stop scheduling `key` and wait until its running sync, if any, has ended."""
        self.discard(key)
        task = self._running.get(key)
        if task is not None:
            await asyncio.wait({task})

    async def serve(self, run: RunSync) -> None:
        """Start due syncs until stop()."""
        while not self._stopping:
            self._changed.clear()
            now = time.monotonic()
            while self._heap and self._heap[0][0] <= now:
                _, seq, key = heapq.heappop(self._heap)
                entry = self._entries.get(key)
                if entry is not None and entry.due_seq == seq:
                    entry.due_seq, entry.queued = -1, True
                    if key[0] not in self._queues:
                        self._queues[key[0]] = deque()
                        self._turns.append(key[0])
                    self._queues[key[0]].append(key)
            self._start_in_turn(run)
            timeout = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    async def stop(self, grace: float) -> None:
        """Start nothing more; let running syncs end for `grace` seconds, then cancel them."""
        self._stopping = True
        self._changed.set()
        tasks = set(self._running.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    def _due(self, key: Key, entry: _Entry, delay: float) -> None:
        entry.due_seq = next(self._seq)
        heapq.heappush(self._heap, (time.monotonic() + delay, entry.due_seq, key))
        self._changed.set()

    def _start_in_turn(self, run: RunSync) -> None:
        """One waiting sync per namespace per round, skipping namespaces at their share."""
        progress = True
        while progress and self._turns and len(self._running) < self.concurrency:
            progress = False
            for _ in range(len(self._turns)):
                if len(self._running) >= self.concurrency:
                    return
                namespace = self._turns[0]
                self._turns.rotate(-1)
                if self._running_in[namespace] >= self.per_namespace:
                    continue
                queue = self._queues[namespace]
                key = queue.popleft()
                if not queue:
                    del self._queues[namespace]
                    self._turns.remove(namespace)
                entry = self._entries.get(key)
                if entry is None or not entry.queued:
                    continue  # removed while waiting
                entry.queued, entry.running = False, True
                self._running_in[namespace] += 1
                self._running[key] = asyncio.create_task(self._one(run, key, entry))
                progress = True

    async def _one(self, run: RunSync, key: Key, entry: _Entry) -> None:
        delay: float | None = FAILED_UNEXPECTEDLY_SECONDS
        try:
            ok, delay = await run(key, entry.body, entry.failures)
            entry.failures = 0 if ok else entry.failures + 1
        except Exception:
            logger.exception("sync of %s/%s raised", *key)
            entry.failures += 1
        finally:
            del self._running[key]
            self._running_in[key[0]] -= 1
            if not self._running_in[key[0]]:
                del self._running_in[key[0]]
            entry.running = False
            if self._entries.get(key) is entry:  # still scheduled (not removed meanwhile)
                if entry.again:
                    entry.again = False
                    self._due(key, entry, 0.0)
                elif delay is not None:
                    self._due(key, entry, delay)
            self._changed.set()
