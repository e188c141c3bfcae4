"""A token bucket shared by every AWS request made for one store, retries included.

Refreshes of thousands of objects, and botocore's own retries after a throttle, all draw from the
same bucket, so a throttled store slows down instead of storming AWS."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()
        self.waited_seconds = 0.0  # total time callers were held back (for tests and metrics)

    def _reserve(self) -> float:
        """Take one token, possibly going into debt; return how long the caller must wait."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            self.waited_seconds += wait
            return wait

    def acquire(self) -> None:
        """Block the calling (worker) thread until it may send one request."""
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
