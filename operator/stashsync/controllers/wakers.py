"""Wake a refresh loop early: its spec changed, or its Secret was edited or deleted."""

from __future__ import annotations

import asyncio

import kopf

Key = tuple[str, str]  # (namespace, name)


class Wakers:
    """One event per running refresh loop; setting it ends the loop's wait."""

    def __init__(self) -> None:
        self._events: dict[Key, asyncio.Event] = {}

    def register(self, key: Key) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def unregister(self, key: Key) -> None:
        self._events.pop(key, None)

    def wake(self, key: Key) -> None:
        event = self._events.get(key)
        if event is not None:
            event.set()

    def wake_all(self) -> None:
        for event in self._events.values():
            event.set()


async def wait_for_wake(stopped: kopf.DaemonStopped, wake: asyncio.Event, delay: float | None) -> None:
    """Until the daemon is stopped, `wake` is set, or `delay` seconds pass (None: no time limit)."""
    waiters = [asyncio.ensure_future(stopped.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def sleep_unless_stopped(stopped: kopf.DaemonStopped, seconds: float) -> None:
    """Wait `seconds`, or less if the daemon is stopped meanwhile."""
    await wait_for_wake(stopped, asyncio.Event(), seconds)
