"""Go-style durations ("1h", "15m", "30s", "1h30m", "0") as used in Kubernetes specs."""

from __future__ import annotations

import re

from stashsync.errors import SpecError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Used by the CRD schema too: "0", or a first part of at least 1s (1s, 1.5m, 1000ms), so no interval the
# schema accepts is a hot loop. The parser checks the total against MINIMUM_SECONDS as well.
PATTERN = r"^(0|([1-9][0-9]*(\.[0-9]+)?(s|m|h|d)|[1-9][0-9]{3,}ms)([0-9]+(\.[0-9]+)?(ms|s|m|h|d))*)$"
MINIMUM_SECONDS = 1.0


def parse_duration(text: str, field: str) -> float:
    """Seconds in `text`; 0 means "never". Anything else is at least MINIMUM_SECONDS: a tenant's
    1ms interval would otherwise be a hot loop of AWS calls and Kubernetes writes."""
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
    if total < MINIMUM_SECONDS:
        raise SpecError(f"{field}: {text!r} is shorter than the minimum of {MINIMUM_SECONDS:g}s (0 means never)")
    return total
