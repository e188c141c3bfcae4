"""Kubernetes Events for state changes. Posted with kopf.event, which is not filtered by the
posting level (that level keeps kopf's own log lines to warnings and errors)."""

from __future__ import annotations

from typing import Any

import kopf


def normal(body: Any, reason: str, message: str) -> None:
    kopf.event(body, type="Normal", reason=reason, message=message)


def warning(body: Any, reason: str, message: str) -> None:
    kopf.event(body, type="Warning", reason=reason, message=message)
