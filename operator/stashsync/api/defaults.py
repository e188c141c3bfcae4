"""The defaults a structural schema gives an object, applied as the API server applies them: a missing
property with a `default` gets it, and defaulting goes on inside what is there (properties,
additionalProperties, array items). Pure; used to tell an object that is exactly what the operator
wrote (after the server's defaulting) from one someone added fields to."""

from __future__ import annotations

import copy
from typing import Any


def apply_defaults(value: Any, schema: dict[str, Any]) -> Any:
    """A copy of `value` with `schema`'s defaults filled in."""
    if isinstance(value, dict):
        out = {k: v for k, v in value.items()}
        properties = schema.get("properties") or {}
        for name, sub in properties.items():
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
            if name in out:
                out[name] = apply_defaults(out[name], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name in out:
                if name not in properties:
                    out[name] = apply_defaults(out[name], extra)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(item, schema["items"]) for item in value]
    return value
