"""moto_server with each DynamoDB call atomic, as it is on AWS.

moto's TransactWriteItems snapshots whole tables and, when a condition fails, puts the snapshot
back; a claim another thread wrote in between is silently undone. On AWS that cannot happen. The
wrap-token chaos test hit it (a token whose claim vanished read as AlreadyConsumed), so every
DynamoDB backend call here holds one lock. Other services are left concurrent.

Usage: python -m tests.harness.moto_atomic [moto_server arguments]"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_LOCK = threading.RLock()


def _atomic(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)
    return locked


def make_dynamodb_atomic() -> None:
    for name, member in list(vars(DynamoDBBackend).items()):
        if not name.startswith("_") and callable(member):
            setattr(DynamoDBBackend, name, _atomic(member))


if __name__ == "__main__":
    make_dynamodb_atomic()
    main()
