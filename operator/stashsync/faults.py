"""Crash points for the crash-safety tests: with STASHSYNC_CRASH_AT=<name> set, the process kills
itself (SIGKILL, no cleanup) when it reaches that point, the way a node failure would."""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    if os.environ.get("STASHSYNC_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
