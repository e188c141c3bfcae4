"""`property: a.b` on a data entry: one field of a JSON value (as External Secrets Operator does).

A string field gives its text; any other JSON value gives its compact JSON. Keys containing a dot
are reached by escaping it: `a\\.b`."""

from __future__ import annotations

import json
import re
from typing import Any

from stashsync.errors import StashError


class PropertyNotFound(StashError):
    reason = "PropertyNotFound"


def _path(prop: str) -> list[str]:
    return [part.replace("\\.", ".") for part in re.split(r"(?<!\\)\.", prop)]


def extract(value: bytes, prop: str, what: str) -> bytes:
    try:
        node: Any = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        raise PropertyNotFound(f"{what} is not JSON, so it has no property {prop!r}") from None
    except RecursionError:  # a value nested thousands deep: say so, never let a traceback escape
        raise PropertyNotFound(f"{what} is JSON nested too deeply to read property {prop!r}") from None
    for part in _path(prop):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PropertyNotFound(f"{what} has no property {prop!r}")
    if isinstance(node, str):
        return node.encode()
    return json.dumps(node, separators=(",", ":")).encode()
