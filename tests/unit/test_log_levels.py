"""A retried 429 from a (re)starting apiserver is logged as INFO; a request that finally fails stays ERROR."""

from __future__ import annotations

import logging

from stashsync.log_levels import RetryLevelFilter

GET = "GET https://127.0.0.1:6443/apis/stashsync.dev/v1alpha1/syncedsecrets"


def _record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    record = logging.LogRecord("kopf._cogs.clients.api", level, __file__, 1, message, None, None)
    assert RetryLevelFilter().filter(record)
    return record


def test_a_retried_429_is_info() -> None:
    record = _record(f"Request attempt #1/9 failed; will retry: {GET} -> "
                     "APITooManyRequestsError('storage is (re)initializing', {'code': 429})")
    assert (record.levelno, record.levelname) == (logging.INFO, "INFO")


def test_other_failures_keep_their_level() -> None:
    escalated = _record(f"Request attempt #9/9 failed; escalating: {GET} -> APITooManyRequestsError('busy')")
    server = _record(f"Request attempt #1/9 failed; will retry: {GET} -> APIServerError('boom')")
    assert escalated.levelno == server.levelno == logging.ERROR
