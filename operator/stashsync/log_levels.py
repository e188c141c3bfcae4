"""Log records at the level of what they report. kopf logs every retried API request as an ERROR,
including the 429 "storage is (re)initializing" a starting or restarting apiserver answers for a few
seconds: a normal wait, retried as the server asks. Those are INFO here; a request that finally
fails ("escalating") stays an ERROR.

kopf also logs "Handler 'x' succeeded." at INFO for every handler call, event handlers included: four
lines per SyncedSecret as it converges, and as many for every Secret and ConfigMap the operator
watches, saying nothing the operator's own lines do not. Those are DEBUG here (shown with --verbose).
"""

from __future__ import annotations

import logging
import re

_RETRIED_429 = re.compile(r"^Request attempt \S+ failed; will retry: .* -> APITooManyRequestsError\(")
_SUCCEEDED = re.compile(r"^Handler '[^']*' succeeded\.$")
OBJECT_LOGGER = "kopf.objects"


class RetryLevelFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and _RETRIED_429.match(record.getMessage()):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


class SucceededLevelFilter(logging.Filter):
    """On kopf's object logger, before any handler formats the line: a success line is DEBUG, and
    dropped unless that logger shows DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and isinstance(record.msg, str) and _SUCCEEDED.match(record.msg):
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def install() -> None:
    """On every handler of the root logger (kopf.configure adds its own there), and on kopf's object
    logger."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RetryLevelFilter) for f in handler.filters):
            handler.addFilter(RetryLevelFilter())
    objects = logging.getLogger(OBJECT_LOGGER)
    if not any(isinstance(f, SucceededLevelFilter) for f in objects.filters):
        objects.addFilter(SucceededLevelFilter())
