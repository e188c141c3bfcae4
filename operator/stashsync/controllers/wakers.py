"""Wake a refresh loop early: its spec changed, or its Secret was edited or deleted."""

from __future__ import annotations

import asyncio

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
