"""The operator as it runs in production: `stashsync run` (kopf) in its own process."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.metrics import metric_sum, scrape
from tests.harness.ports import free_port, wait_for_http_ok, wait_until
from tests.harness.processes import Process

# The admin's tenancy settings the tests run under: the fault proxy on loopback is an allowed endpoint,
# tenants of test namespaces may assume the stashsync-* roles from the operator's identity, and their
# change feeds may read the queues named after their namespace.
TEST_TENANCY = json.dumps({"endpoints": ["http://127.0.0.1:*"], "assumableRoles": [
    {"namespaces": ["t-*"], "roleArn": "arn:aws:iam::123456789012:role/stashsync-*"}],
    "feedQueues": ["http://127.0.0.1:*/123456789012/{namespace}-*"]})


@dataclass
class OperatorProcess:
    folder: Path
    kubeconfig: Path
    aws_env: dict[str, str]
    namespace: str = "stashsync-system"
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)  # e.g. ["--verbose"]
    process: Process | None = None
    metrics_url: str = ""
    liveness_url: str = ""
    starts: int = 0

    @property
    def log(self) -> Path:
        return self.folder / "operator.log"

    def start(self) -> OperatorProcess:
        self.folder.mkdir(parents=True, exist_ok=True)
        metrics_port, liveness_port = free_port(), free_port()
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE"))}
        env.update(self.aws_env)
        env.update({"KUBECONFIG": str(self.kubeconfig), "STASHSYNC_NAMESPACE": self.namespace,
                    "STASHSYNC_METRICS_PORT": str(metrics_port), "STASHSYNC_TENANCY": TEST_TENANCY,
                    **self.extra_env})
        exe = str(Path(sys.executable).parent / "stashsync")
        self.liveness_url = f"http://127.0.0.1:{liveness_port}/healthz"
        self.process = Process("operator", [exe, "run", "--liveness", self.liveness_url, *self.extra_args],
                               self.log, env).start()
        self.starts += 1
        wait_for_http_ok(self.liveness_url, self.process, 60, "operator liveness endpoint")
        return self

    def scrape(self, *names: str) -> str:
        """One reading of all metrics (or of those `names` only), so that several values come from
        the same instant."""
        query = "?" + "&".join(f"name[]={n}" for n in names) if names else ""
        return scrape(self.metrics_url + query)

    def metric(self, name: str, text: str | None = None, **labels: str) -> float:
        """Sum of a metric's samples whose labels include `labels` (from `text`, or a new scrape of that
        metric alone: rendering every per-object series would cost the operator CPU at 10,000 objects)."""
        return metric_sum(self.scrape(name) if text is None else text, name, **labels)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()


@contextmanager
def crashing_at(operator: OperatorProcess, point: str) -> Iterator[OperatorProcess]:
    """The session's operator replaced by one that kills itself at crash point `point` (faults.py);
    the session's operator runs again afterwards, whatever happened inside."""
    operator.stop()
    crasher = OperatorProcess(operator.folder.parent / f"operator-crash-{point}", operator.kubeconfig,
                              operator.aws_env, operator.namespace, extra_env={"STASHSYNC_CRASH_AT": point})
    try:
        yield crasher.start()
    finally:
        crasher.stop()
        operator.start()


def wait_crashed(crasher: OperatorProcess, what: str, timeout: float = 60) -> None:
    assert crasher.process is not None
    wait_until(lambda: not crasher.process.alive(), timeout, what)  # type: ignore[union-attr]
