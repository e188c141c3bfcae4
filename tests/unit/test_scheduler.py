"""The sync scheduler: due times, wake-ups, one sync at a time per object, and each namespace's share."""

from __future__ import annotations

import asyncio

from stashsync.controllers.scheduler import Key, SyncScheduler


class Syncs:
    """A RunSync that records what ran, holds each sync until released, and answers `delay`."""

    def __init__(self, delay: float | None = None, hold: bool = False) -> None:
        self.delay = delay
        self.started: list[Key] = []
        self.bodies: list[bytes] = []
        self.running: set[Key] = set()
        self.most_at_once = 0
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def __call__(self, key: Key, body: bytes, failures: int) -> tuple[bool, float | None]:
        assert key not in self.running, "two syncs of one object at once"
        self.started.append(key)
        self.bodies.append(body)
        self.running.add(key)
        self.most_at_once = max(self.most_at_once, len(self.running))
        try:
            await self.release.wait()
        finally:
            self.running.discard(key)
        return True, self.delay


async def _settle(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_a_new_object_syncs_at_once_and_again_after_its_delay() -> None:
    async def scenario() -> None:
        scheduler, syncs = SyncScheduler(4, 2), Syncs(delay=0.1)
        serving = asyncio.create_task(scheduler.serve(syncs))
        assert scheduler.track(("ns", "a"), b"v1")
        await _settle()
        assert syncs.started == [("ns", "a")]
        assert not scheduler.track(("ns", "a"), b"v2")  # known: the body is kept, no extra sync
        await _settle(0.15)
        assert syncs.started == [("ns", "a"), ("ns", "a")] and syncs.bodies[-1] == b"v2"
        await scheduler.stop(1)
        serving.cancel()

    run(scenario())


def test_no_delay_means_only_when_woken() -> None:
    async def scenario() -> None:
        scheduler, syncs = SyncScheduler(4, 2), Syncs(delay=None)
        serving = asyncio.create_task(scheduler.serve(syncs))
        scheduler.track(("ns", "a"), b"{}")
        await _settle(0.2)
        assert len(syncs.started) == 1
        scheduler.wake(("ns", "a"))
        await _settle()
        assert len(syncs.started) == 2
        await scheduler.stop(1)
        serving.cancel()

    run(scenario())


def test_a_wake_during_a_sync_runs_one_more_sync_after_it_never_two_at_once() -> None:
    async def scenario() -> None:
        scheduler, syncs = SyncScheduler(4, 2), Syncs(delay=None, hold=True)
        serving = asyncio.create_task(scheduler.serve(syncs))
        scheduler.track(("ns", "a"), b"{}")
        await _settle()
        for _ in range(3):
            scheduler.wake(("ns", "a"))
        await _settle()
        assert len(syncs.started) == 1
        syncs.release.set()
        await _settle()
        assert len(syncs.started) == 2  # three wake-ups while running: one more sync
        await scheduler.stop(1)
        serving.cancel()

    run(scenario())


def test_one_namespace_holds_at_most_its_share_and_others_start_in_their_turn() -> None:
    async def scenario() -> None:
        scheduler, syncs = SyncScheduler(4, 2), Syncs(delay=None, hold=True)
        serving = asyncio.create_task(scheduler.serve(syncs))
        for i in range(50):
            scheduler.track(("busy", f"o{i}"), b"{}")
        scheduler.track(("quiet", "only"), b"{}")
        await _settle()
        assert sum(1 for k in syncs.running if k[0] == "busy") == 2
        assert ("quiet", "only") in syncs.running  # not behind the 50 of the busy namespace
        syncs.release.set()
        await _settle(0.3)
        assert len(syncs.started) == 51 and syncs.most_at_once <= 3
        await scheduler.stop(1)
        serving.cancel()

    run(scenario())


def test_remove_waits_for_the_running_sync_and_nothing_runs_after() -> None:
    async def scenario() -> None:
        scheduler, syncs = SyncScheduler(4, 2), Syncs(delay=0.01, hold=True)
        serving = asyncio.create_task(scheduler.serve(syncs))
        scheduler.track(("ns", "a"), b"{}")
        await _settle()
        removal = asyncio.create_task(scheduler.remove(("ns", "a")))
        await _settle()
        assert not removal.done()  # its sync is still running
        syncs.release.set()
        await removal
        await _settle(0.1)
        assert len(syncs.started) == 1 and ("ns", "a") not in scheduler
        await scheduler.stop(1)
        serving.cancel()

    run(scenario())


def test_stop_cancels_syncs_that_outlive_the_grace() -> None:
    async def scenario() -> None:
        scheduler, syncs = SyncScheduler(4, 2), Syncs(delay=None, hold=True)
        serving = asyncio.create_task(scheduler.serve(syncs))
        scheduler.track(("ns", "a"), b"{}")
        await _settle()
        await scheduler.stop(0.05)
        assert not syncs.running
        scheduler.track(("ns", "b"), b"{}")
        await _settle()
        assert syncs.started == [("ns", "a")]  # nothing starts after stop
        serving.cancel()

    run(scenario())
