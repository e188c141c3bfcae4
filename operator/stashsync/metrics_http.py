"""The metrics endpoint: Prometheus' text format from a thread of its own (as prometheus_client serves
it), answering only callers the API server says may read /metrics when an authorizer is given
(kube/access_review.py). The authorizer runs on the operator's event loop; the server thread waits for
its answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

REVIEW_SECONDS = 10.0  # longest wait for the API server's answer about a caller
MAX_CONNECTIONS = 8  # served at once; more are closed at once (a scraper needs one)

Authorizer = Callable[[str], Coroutine[Any, Any, bool]]  # bearer token -> may read the metrics


class _Server(ThreadingMixIn, WSGIServer):
    """A thread per connection, at most MAX_CONNECTIONS of them: anyone who reaches the port may open
    connections, and each would otherwise cost a thread."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._connections.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connections.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()


class _QuietHandler(WSGIRequestHandler):
    timeout = 5  # seconds a connection may stay silent: idle connections cannot hold the server
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not news


def _guarded(app: Any, authorize: Authorizer, loop: asyncio.AbstractEventLoop) -> Any:
    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"a bearer token is required\n"]
        allowed: bool
        try:
            allowed = asyncio.run_coroutine_threadsafe(authorize(token.strip()), loop).result(REVIEW_SECONDS)
        except Exception:  # no answer in time, or the loop is stopping
            allowed = False
        if not allowed:
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"not allowed to get /metrics\n"]
        result: Iterable[bytes] = app(environ, start_response)
        return result
    return guarded


def serve(port: int, addr: str, authorize: Authorizer | None) -> None:
    """Serve in a daemon thread, from the running event loop (which answers the authorizer)."""
    app = make_wsgi_app()
    if authorize is not None:
        app = _guarded(app, authorize, asyncio.get_running_loop())
    server = make_server(addr, port, app, _Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
