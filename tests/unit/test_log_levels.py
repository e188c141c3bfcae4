"""A retried 429 from a (re)starting apiserver is logged as INFO; a request that finally fails stays ERROR."""

from __future__ import annotations

import logging

from stashsync.log_levels import RetryLevelFilter, SucceededLevelFilter

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


def _object_line(message: str, level: int = logging.INFO) -> tuple[logging.LogRecord, bool]:
    record = logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)
    return record, SucceededLevelFilter().filter(record)


def test_a_handler_success_line_is_debug() -> None:
    objects = logging.getLogger("kopf.objects")
    before = objects.level
    try:
        objects.setLevel(logging.INFO)
        record, shown = _object_line("Handler 'synced_secret_event' succeeded.")
        assert (record.levelno, shown) == (logging.DEBUG, False)
        objects.setLevel(logging.DEBUG)  # --verbose
        assert _object_line("Handler 'unwrap' succeeded.")[1]
    finally:
        objects.setLevel(before)


def test_other_object_lines_are_kept() -> None:
    for message, level in (("secret written", logging.INFO),
                           ("Handler 'unwrap' failed with an exception. Will retry.", logging.ERROR)):
        record, shown = _object_line(message, level)
        assert shown and record.levelno == level
