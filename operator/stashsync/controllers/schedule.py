"""When a SyncedSecret syncs next: at its refresh interval after a success (spread by a jitter, so
10,000 objects do not fire together), backing off after failures."""

from __future__ import annotations

import random

from stashsync.reasons import Retry, retry_of

RETRY_FIRST_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0


def next_delay(ok: bool, reason: str, refresh: float, failures: int, jitter: float) -> float | None:
    """Seconds until the next sync; None waits only for a wake-up (refreshInterval 0)."""
    if ok:
        if refresh <= 0:
            return None
        return refresh * (1 + random.uniform(-jitter, jitter))  # noqa: S311 - spreading load, not security
    backoff = min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * float(2 ** min(failures, 10)))
    if retry_of(reason) != Retry.BACKOFF:  # waits for a fix elsewhere: poll at the slowest pace
        backoff = RETRY_MAX_SECONDS
    if refresh > 0:
        backoff = min(backoff, refresh)
    return backoff * random.uniform(0.8, 1.2)  # noqa: S311
