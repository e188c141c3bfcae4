"""Wake a refresh loop early: its spec changed, or its Secret was edited or deleted."""

from __future__ import annotations

import asyncio

Key = tuple[str, str]  # (namespace, name)

_events: dict[Key, asyncio.Event] = {}


def register(key: Key) -> asyncio.Event:
    return _events.setdefault(key, asyncio.Event())


def unregister(key: Key) -> None:
    _events.pop(key, None)


def wake(key: Key) -> None:
    event = _events.get(key)
    if event is not None:
        event.set()
