from __future__ import annotations

import socket
import ssl
import time
import urllib.request
from collections.abc import Callable
from typing import Protocol


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


class _Checkable(Protocol):
    def check_alive(self) -> None: ...


def wait_for_http_ok(url: str, process: _Checkable, timeout: float, what: str,
                     context: ssl.SSLContext | None = None) -> None:
    """Until `url` answers 200, failing fast (with its log) if `process` dies meanwhile."""

    def ok() -> bool:
        process.check_alive()
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            return bool(response.status == 200)

    wait_until(ok, timeout, what)
