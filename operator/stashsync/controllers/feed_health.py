"""Which stores' change feeds are being read right now, and how far their SyncedSecrets may stretch
their polling meanwhile (the backstop). A store whose feed is broken is not here: its objects poll at
their own refreshInterval."""

from __future__ import annotations


class FeedHealth:
    def __init__(self) -> None:
        self._backstops: dict[str, float] = {}  # store identity -> backstop seconds

    def reading(self, identity: str, backstop_seconds: float) -> None:
        self._backstops[identity] = backstop_seconds

    def broken(self, identity: str) -> None:
        self._backstops.pop(identity, None)

    def stretch(self, identity: str, refresh_seconds: float) -> float:
        """An object's timer while its store's feed is read: the longer of its own and the backstop
        (0, no timer, stays 0)."""
        backstop = self._backstops.get(identity, 0.0)
        return max(refresh_seconds, backstop) if refresh_seconds > 0 else refresh_seconds
