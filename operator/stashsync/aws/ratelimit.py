"""A token bucket shared by every AWS request made for one store, retries included.

Refreshes of thousands of objects, and botocore's own retries after a throttle, all draw from the
same bucket, so a throttled store slows down instead of storming AWS.

Waiting happens on the event loop, never in a worker thread: a store limited to 0.1 requests/s must
not park the shared threads that every other store's calls run in. A call takes its turn
(`wait_turn`, a coroutine) before it is handed to a thread; inside the thread each HTTP attempt
`spend`s a token without waiting, the first one already paid for by the turn. Extra attempts (a
retry, a second page) put the bucket in debt, which the next caller's turn waits out.

The budget also adapts to AWS (additive increase, multiplicative decrease, as TCP does): quotas are
per account, so other tools may leave a store less than its `rateLimit`. Each throttled answer halves
the rate (once per second however many say so, never below 1/64 of it) and drops the saved-up burst;
then the rate climbs back by a sixtieth of `rateLimit` per second. A store whose budget is above what
AWS grants it then sends about what AWS grants, instead of a steady stream of throttled attempts."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


RECOVERY_SECONDS = 60.0  # from the floor back to the full rate, when nothing is throttled meanwhile
FLOOR_FRACTION = 1 / 64


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.configured = rate  # the store's rateLimit; `rate` is what AWS lets it have now
        self.rate = rate
        self.burst = burst
        self._cut_at: float | None = None
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()
        self._prepaid = threading.local()
        self.waited_seconds = 0.0  # total time callers were held back (for tests and metrics)

    def _reserve(self) -> float:
        """Take one token, possibly going into debt; return how long the caller must wait."""
        with self._lock:
            self._refill()
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            self.waited_seconds += wait
            return wait

    def _refill(self) -> float:
        """Tokens (and, after a throttle, rate) earned since the last look; under the lock."""
        now = self._clock()
        elapsed = now - self._stamp
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        if self.rate < self.configured:
            self.rate = min(self.configured, self.rate + elapsed * self.configured / RECOVERY_SECONDS)
        self._stamp = now
        return now

    def throttled(self) -> None:
        """AWS answered "slow down" (from a worker thread): halve the rate, and give up the burst."""
        with self._lock:
            now = self._refill()
            if self._cut_at is not None and now - self._cut_at < 1.0:
                return  # the answers to one burst: one cut
            self._cut_at = now
            self.rate = max(self.configured * FLOOR_FRACTION, self.rate / 2)
            self._tokens = min(self._tokens, 0.0)

    async def wait_turn(self) -> None:
        """Wait (on the event loop) until one more request fits the budget."""
        wait = self._reserve()
        if wait > 0:
            await self._sleep(wait)

    def prepaid(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn` (in a worker thread) with its first request paid for by a `wait_turn`."""
        self._prepaid.credit = 1
        try:
            return fn(*args)
        finally:
            self._prepaid.credit = 0

    def spend(self) -> None:
        """One HTTP attempt from a worker thread: free if prepaid, else debt; never sleeps."""
        if getattr(self._prepaid, "credit", 0) > 0:
            self._prepaid.credit -= 1
        else:
            self._reserve()
