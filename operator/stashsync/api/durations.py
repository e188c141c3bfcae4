"""Go-style durations ("1h", "15m", "30s", "1h30m", "0") as used in Kubernetes specs."""

from __future__ import annotations

import re

from stashsync.api.errors import SpecError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
PATTERN = r"^(0|(\d+(\.\d+)?(ms|s|m|h|d))+)$"  # used by the CRD schema too


def parse_duration(text: str, field: str) -> float:
    """Seconds in `text`; 0 means "never"."""
    text = text.strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise SpecError(f"{field}: {text!r} is not a duration like 30s, 15m, 1h or 1h30m")
    return total
