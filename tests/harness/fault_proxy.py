"""A fault-injecting HTTP proxy on loopback between the operator and moto_server.

Modes: "pass" forwards; "throttle" answers AWS JSON-protocol ThrottlingException (400);
"error" answers 500; "drop" closes the connection without an answer; "slow" forwards after
`delay` seconds. It counts every request it sees, so tests can check that retries are bounded.
Besides the mode, `hold(marker)` keeps every request whose body names `marker` (a table, say) until
`release()`, then forwards it: a call that reaches AWS after its caller died. `deny(session, operation)`
answers AccessDeniedException to `operation` (an X-Amz-Target suffix, e.g. "Scan") when it is signed
with credentials that an AssumeRole through this proxy gave role session `session`: as IAM would
for a role that may not make that call (moto enforces no IAM policies)."""

from __future__ import annotations

import http.client
import http.server
import json
import re
import threading
import time
from urllib.parse import parse_qs, urlsplit

from tests.harness.ports import free_port


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port
        self.mode = "pass"
        self.delay = 2.0  # seconds, in "slow" mode
        self.requests = 0
        self.held = 0
        self._hold_marker: bytes | None = None
        self._released = threading.Event()
        self._sessions: dict[str, str] = {}  # access key id -> the role session AssumeRole gave it to
        self._denied: set[tuple[str, str]] = set()  # (role session name, operation)
        self._lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def count(self) -> int:
        with self._lock:
            return self.requests

    def hold(self, marker: str) -> None:
        with self._lock:
            self.held = 0
            self._released.clear()
            self._hold_marker = marker.encode()

    def release(self) -> None:
        with self._lock:
            self._hold_marker = None
            self._released.set()

    def deny(self, session: str, operation: str) -> None:
        with self._lock:
            self._denied.add((session, operation))

    def _denies(self, headers: dict[str, str]) -> bool:
        found = re.search(r"Credential=([^/]+)/", headers.get("Authorization", ""))
        operation = headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
        with self._lock:
            session = self._sessions.get(found.group(1)) if found else None
            return session is not None and (session, operation) in self._denied

    def _learn_session(self, request: bytes, answer: bytes) -> None:
        """An AssumeRole answer: which access key id belongs to which role session."""
        sessions = parse_qs(request.decode(errors="replace")).get("RoleSessionName")
        key = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", answer)
        if sessions and key:
            with self._lock:
                self._sessions[key.group(1).decode()] = sessions[0]

    def _held(self, body: bytes) -> bool:
        with self._lock:
            if self._hold_marker is None or self._hold_marker not in body:
                return False
            self.held += 1
            return True

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the caller died meanwhile (a held call): nobody to answer

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy._lock:
                    proxy.requests += 1
                if proxy._held(body):
                    proxy._released.wait(120)
                mode = proxy.mode
                if mode == "throttle":
                    error = {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                             "message": "Rate of requests exceeds the allowed throughput."}
                    self._answer(400, json.dumps(error).encode(), {"Content-Type": "application/x-amz-json-1.0",
                                                                   "x-amzn-ErrorType": "ThrottlingException"})
                    return
                if mode == "error":
                    self._answer(500, b'{"__type":"InternalFailure","message":"injected"}',
                                 {"Content-Type": "application/x-amz-json-1.0"})
                    return
                if mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)  # no status line, no body: the client sees the peer hang up
                    return
                if mode == "slow":
                    time.sleep(proxy.delay)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                if proxy._denies(headers):
                    error = {"__type": "com.amazon.coral.service#AccessDeniedException",
                             "message": "not authorized by the test's IAM"}
                    self._answer(400, json.dumps(error).encode(), {"Content-Type": "application/x-amz-json-1.0",
                                                                   "x-amzn-ErrorType": "AccessDeniedException"})
                    return
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=30)
                try:
                    upstream.request("POST", self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    answer = response.read()
                    if b"Action=AssumeRole&" in body or body.endswith(b"Action=AssumeRole"):
                        proxy._learn_session(body, answer)
                    self._answer(response.status, answer,
                                 {k: v for k, v in response.getheaders()
                                  if k.lower() not in ("content-length", "transfer-encoding", "connection")})
                finally:
                    upstream.close()

        return Handler
