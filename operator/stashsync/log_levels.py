"""Log records at the level of what they report. kopf logs every retried API request as an ERROR,
including the 429 "storage is (re)initializing" a starting or restarting apiserver answers for a few
seconds: a normal wait, retried as the server asks. Those are INFO here; a request that finally
fails ("escalating") stays an ERROR."""

from __future__ import annotations

import logging
import re

_RETRIED_429 = re.compile(r"^Request attempt \S+ failed; will retry: .* -> APITooManyRequestsError\(")


class RetryLevelFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and _RETRIED_429.match(record.getMessage()):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


def install() -> None:
    """On every handler of the root logger (kopf.configure adds its own there)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RetryLevelFilter) for f in handler.filters):
            handler.addFilter(RetryLevelFilter())
