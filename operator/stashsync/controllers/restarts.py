"""Restart orchestration: rotations restart each workload once, however many of its Secrets changed
together, and at most `max_concurrent` rollouts run at a time across the cluster, at most
`per_namespace` of them for one namespace's workloads (slots handed out in turn per namespace, so
one namespace's stuck rollouts never hold the slots another namespace's restarts need). A rollout
that cannot progress by itself (paused, or past its progress deadline) gives its slot up at once.

A sync whose Secret changed asks for its targets to restart (`request`) and records the content MAC
it is owed as `status.pendingRolloutMAC`. A workload is restarted once no request for it has come
for `window` seconds (so a storm of rotations, however long, makes one restart; yet never later than
MAX_WINDOWS windows after the first request): one pod-template patch, then it holds a slot until its
controller reports the rollout done (or `progress_timeout`). When
every workload of a request is restarted, the SyncedSecret's `status.rolloutMAC` is set to the MAC
it asked for and a RolloutRestarted event names them. A process that stops before that leaves
`pendingRolloutMAC` ahead of `rolloutMAC`, and the next sync asks again: no restart is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kubernetes_asyncio import client

from stashsync import metrics
from stashsync.controllers import events
from stashsync.crypto import mac
from stashsync.fairness import FairSlots
from stashsync.kube import rollout
from stashsync.kube.client import api_error
from stashsync.kube.status import patch_status

logger = logging.getLogger(__name__)
POLL_SECONDS = 2.0
MAX_WINDOWS = 6  # a workload waits at most this many windows for its requests to stop coming

Owner = tuple[str, str]  # (namespace, SyncedSecret name)


@dataclass(frozen=True)
class OwnerRef:
    """Enough of a SyncedSecret to patch its status and post events on it."""

    api_version: str
    kind: str
    plural: str
    namespace: str
    name: str
    uid: str

    @property
    def key(self) -> Owner:
        return (self.namespace, self.name)

    def body(self) -> dict[str, object]:
        return {"apiVersion": self.api_version, "kind": self.kind,
                "metadata": {"namespace": self.namespace, "name": self.name, "uid": self.uid}}


@dataclass
class _Request:
    owner: OwnerRef
    content_mac: str
    waiting: set[rollout.Workload]  # not restarted yet
    restarted: list[str] = field(default_factory=list)


@dataclass
class _Window:
    opened: float  # monotonic time of the first request
    due: float  # when the workload is patched: `window` after the latest request
    owners: dict[Owner, str] = field(default_factory=dict)  # owner -> the content MAC it asked for


class RestartCoordinator:
    def __init__(self, api: client.ApiClient, window_seconds: float, max_concurrent: int,
                 progress_timeout: float, mac_key: Callable[[], bytes], per_namespace: int | None = None) -> None:
        self.api = api
        self.mac_key = mac_key
        self.window_seconds = window_seconds
        self.progress_timeout = progress_timeout
        self.slots = FairSlots(max_concurrent, per_namespace)
        self._windows: dict[rollout.Workload, _Window] = {}
        self._requests: dict[Owner, _Request] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._done: dict[Owner, str] = {}  # owner -> the content MAC its workloads were last restarted for
        self.patches = 0  # workload patches made, for tests and benchmarks

    def request(self, owner: OwnerRef, content_mac: str, workloads: list[rollout.Workload]) -> None:
        """`owner`'s Secret now has content `content_mac`: restart `workloads` (at least one) for it. A
        newer request of the same owner replaces an older one (its workloads restart once, for the
        newest content)."""
        previous = self._requests.get(owner.key)
        if (previous is not None and previous.content_mac == content_mac) or self._done.get(owner.key) == content_mac:
            return  # asked again by a sync that read the status before the restart was recorded
        self._requests[owner.key] = _Request(owner, content_mac, set(workloads))
        metrics.RESTART_REQUESTS.inc(len(workloads))
        now = time.monotonic()
        for workload in workloads:
            window = self._windows.setdefault(workload, _Window(opened=now, due=now))
            window.due = min(now + self.window_seconds, window.opened + MAX_WINDOWS * self.window_seconds)
            window.owners[owner.key] = content_mac
        self._changed.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="stashsync-restarts")

    def pending(self) -> int:
        return len(self._windows)

    def forget(self, owner: Owner) -> None:
        """The SyncedSecret is gone."""
        self._done.pop(owner, None)
        self._requests.pop(owner, None)

    async def stop(self) -> None:
        for task in [self._task, *self._running]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            now = time.monotonic()
            due = [w for w, window in self._windows.items() if window.due <= now]
            for workload in due:
                task = asyncio.create_task(self._restart(workload, self._windows.pop(workload)))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            if not self._windows:
                if not due:
                    return
                continue
            wait = min(w.due for w in self._windows.values()) - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=max(0.0, wait))

    async def _restart(self, workload: rollout.Workload, window: _Window) -> None:
        async with self.slots.slot(workload.namespace):
            macs = sorted(set(window.owners.values()))
            # One owner: its own MAC (as before orchestration); several: a keyed MAC of theirs.
            value = macs[0] if len(macs) == 1 else mac.data_mac(self.mac_key(), str(workload), {
                str(i): m.encode() for i, m in enumerate(macs)})
            try:
                generation = await rollout.restart(self.api, workload, value)
            except Exception as exc:  # any failure: forget them, so the owners ask again
                why = api_error(exc).message if isinstance(exc, client.ApiException) else type(exc).__name__
                logger.warning("restart of %s in %s failed: %s", workload, workload.namespace, why)
                for owner, content_mac in window.owners.items():  # forgotten, so their next sync asks again
                    if (request := self._requests.get(owner)) is not None and request.content_mac == content_mac:
                        self._finish(owner)
                return
            if generation is not None:
                self.patches += 1
                metrics.RESTARTS.labels(kind=workload.kind).inc()
            for owner, content_mac in window.owners.items():
                request = self._requests.get(owner)
                if request is not None and request.content_mac == content_mac:
                    request.waiting.discard(workload)
                    if generation is not None:
                        request.restarted.append(str(workload))
                    if not request.waiting:
                        await self._report(owner)
            if generation is not None:
                metrics.RESTARTS_IN_PROGRESS.inc()
                try:
                    await self._until_rolled_out(workload, generation)
                finally:
                    metrics.RESTARTS_IN_PROGRESS.dec()

    async def _until_rolled_out(self, workload: rollout.Workload, generation: int) -> None:
        """Hold the slot while the rollout runs, so at most max_concurrent run at once; not for one that
        cannot progress (nothing would free the slot but the timeout)."""
        deadline = time.monotonic() + self.progress_timeout
        while time.monotonic() < deadline:
            try:
                if await rollout.progress(self.api, workload, generation) != rollout.Progress.ROLLING:
                    return
            except client.ApiException:
                return  # cannot tell; do not hold the slot on an error
            await asyncio.sleep(POLL_SECONDS)

    def _finish(self, owner: Owner) -> _Request | None:
        return self._requests.pop(owner, None)

    async def _report(self, owner: Owner) -> None:
        request = self._finish(owner)
        if request is None:
            return
        self._done[owner] = request.content_mac
        ref = request.owner
        try:
            await patch_status(self.api, ref.plural, ref.namespace, ref.name, {"rolloutMAC": request.content_mac})
        except Exception as exc:  # rolloutMAC stays behind: the next sync asks again
            self._done.pop(owner, None)
            why = api_error(exc).message if isinstance(exc, client.ApiException) else type(exc).__name__
            logger.warning("could not record the restart of %s/%s: %s", ref.namespace, ref.name, why)
            return
        if request.restarted:
            events.normal(ref.body(), "RolloutRestarted", f"restarted {', '.join(sorted(request.restarted))}")
