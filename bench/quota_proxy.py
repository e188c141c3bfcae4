"""AWS's request quotas in front of moto_server, which has none: a loopback proxy that forwards each
JSON-protocol call (Secrets Manager, SSM, KMS, DynamoDB: the operation is in X-Amz-Target) and answers
as AWS does when a caller exceeds the operation's rate, HTTP 400 ThrottlingException, from a token
bucket per operation. It counts what it forwarded and what it throttled, second by second."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.harness.ports import free_port

THROTTLED_BODY = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'


class _Bucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class QuotaProxy:
    """`quotas`: operation (e.g. "secretsmanager.ListSecrets") -> requests per second, the burst equal
    to one second's worth, as AWS documents its token buckets."""

    def __init__(self, upstream: str, quotas: dict[str, float]) -> None:
        self.upstream = urlsplit(upstream)
        self._buckets = {op: _Bucket(rate, rate) for op, rate in quotas.items()}
        self._lock = threading.Lock()
        self.per_second: Counter[tuple[int, str, bool]] = Counter()  # (second, operation, throttled) -> calls
        self.started = time.monotonic()
        self.url = ""
        self._server: ThreadingHTTPServer | None = None

    def _admit(self, operation: str) -> bool:
        with self._lock:
            bucket = self._buckets.get(operation)
            admitted = bucket is None or bucket.take()
            self.per_second[(int(time.monotonic() - self.started), operation, not admitted)] += 1
            return admitted

    def totals(self) -> Counter[tuple[str, bool]]:
        """(operation, throttled) -> calls so far."""
        with self._lock:
            found: Counter[tuple[str, bool]] = Counter()
            for (_, op, throttled), n in self.per_second.items():
                found[(op, throttled)] += n
            return found

    def start(self) -> QuotaProxy:
        proxy = self
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as AWS's endpoints

            def log_message(self, *_: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target", "")
                service = target.split(".", 1)[0].split("_", 1)[0].lower()
                operation = f"{_SERVICES.get(service, service)}.{target.rsplit('.', 1)[-1]}"
                if not proxy._admit(operation):
                    self.send_response(400)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(THROTTLED_BODY)))
                    self.end_headers()
                    self.wfile.write(THROTTLED_BODY)
                    return
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPConnection(proxy.upstream.hostname or "127.0.0.1",
                                                                   proxy.upstream.port,
                                                                   timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "host")}
                try:
                    conn.request("POST", self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                except (OSError, http.client.HTTPException):
                    local.conn = None
                    self.send_error(502)
                    return
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


# X-Amz-Target prefixes -> the service names boto3 and our metrics use
_SERVICES = {"secretsmanager": "secretsmanager", "amazonssm": "ssm", "trentservice": "kms", "dynamodb": "dynamodb"}
