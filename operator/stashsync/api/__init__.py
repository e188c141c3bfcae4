"""Typed views of the stashsync custom resources (group stashsync.dev, version v1alpha1)."""

from __future__ import annotations

from typing import Any

GROUP = "stashsync.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


def target_name(body: dict[str, Any]) -> str:
    """The Secret a SyncedSecret or WrappedSecret writes: spec.target.name, else the object's own name.
    Read without parsing the rest, so it also works for a spec that does not parse (e.g. on deletion)."""
    named = ((body.get("spec") or {}).get("target") or {}).get("name")
    return str(named or (body.get("metadata") or {}).get("name", ""))
