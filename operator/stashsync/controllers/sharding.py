"""Sharding for very large clusters: STASHSYNC_SHARD_SELECTOR makes this operator serve only the
SyncedSecrets and WrappedSecrets whose labels match, so several Deployments can split the objects
(besides splitting namespaces with STASHSYNC_WATCH_NAMESPACES). Stores are served by every shard.

Syntax: comma-separated `key=value` (label has that value), `key` (label present) or `!key`
(label absent; a catch-all shard for unlabelled objects)."""

from __future__ import annotations

import os
from typing import Any

import kopf

from stashsync.errors import SpecError

ENV = "STASHSYNC_SHARD_SELECTOR"


def parse_shard_selector(text: str) -> dict[str, Any] | None:
    """A kopf label filter: values are strings or kopf.PRESENT / kopf.ABSENT."""
    selector: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if key.startswith("!") and not sep:
            selector[key[1:].strip()] = kopf.ABSENT
        elif key and not sep:
            selector[key] = kopf.PRESENT
        elif key and value.strip():
            selector[key] = value.strip()
        else:
            raise SpecError(f"{ENV}: {part!r} is not key=value, key or !key")
    return selector or None


# Read once, at import: kopf filters are fixed when the handlers are registered.
SHARD_LABELS = parse_shard_selector(os.environ.get(ENV, ""))
