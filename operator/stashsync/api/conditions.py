"""The Ready condition: the user interface of an operator."""

from __future__ import annotations

import datetime
from typing import Any

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now(after_seconds: float = 0.0) -> str:
    """A status timestamp: now, or `after_seconds` from now."""
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=after_seconds)
    return when.strftime(TIME_FORMAT)


def seconds_since(stamp: str | None) -> float | None:
    """Seconds since a status timestamp we wrote; None when there is none (or it is unreadable)."""
    if not stamp:
        return None
    try:
        then = datetime.datetime.strptime(stamp, TIME_FORMAT).replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
    return (datetime.datetime.now(datetime.UTC) - then).total_seconds()


def ready(status: bool, reason: str, message: str, generation: int | None,
          previous: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The conditions list with Ready set."""
    return with_condition("Ready", status, reason, message, generation, previous)


def with_condition(kind: str, status: bool, reason: str, message: str, generation: int | None,
                   previous: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The conditions list with condition `kind` set, the others kept; lastTransitionTime only moves
    when its status flips."""
    old = next((c for c in previous or [] if c.get("type") == kind), None)
    value = "True" if status else "False"
    transition = old["lastTransitionTime"] if old and old.get("status") == value and old.get(
        "lastTransitionTime") else now()
    condition: dict[str, Any] = {"type": kind, "status": value, "reason": reason, "message": message,
                                 "lastTransitionTime": transition}
    if generation is not None:
        condition["observedGeneration"] = generation
    others = [c for c in previous or [] if c.get("type") != kind]
    return [*others, condition]


def says_something_new(previous: dict[str, Any] | None, ok: bool, reason: str, message: str) -> bool:
    """Whether a Ready condition with these values differs from `previous` (status, reason or message):
    events are posted on such changes only, so a failing object does not flood the cluster."""
    return previous is None or (previous.get("status"), previous.get("reason"), previous.get("message")) != (
        "True" if ok else "False", reason, message)


def ready_condition(status: dict[str, Any] | None) -> dict[str, Any] | None:
    return next((c for c in (status or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
