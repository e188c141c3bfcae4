"""The admission webhook is a shared mechanism too: a tenant who may only create objects in its own
namespace (a server-side dry run stores nothing and costs it nothing) cannot buy unbounded work in the
operator, nor delay another tenant; and the webhook answers only the apiserver."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from stashsync.api import GROUP, VERSION
from stashsync.cli.main import main as cli
from tests.harness.controlplane import ControlPlane
from tests.harness.kube import Kube
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import VICTIM_MARGIN, victim_rotation, wait_ready, webhook_operator
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration


@pytest.fixture
def guarded(kube: Kube, operator: OperatorProcess, control_plane: ControlPlane) -> Iterator[OperatorProcess]:
    """An operator serving the webhook to clients with a certificate from the test CA: the apiserver's."""
    assert control_plane.pki is not None
    with webhook_operator(kube, operator, control_plane,
                          STASHSYNC_WEBHOOK_CLIENT_CA=str(control_plane.pki.ca_cert)) as hooked:
        yield hooked


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakMemory:
    """The operator process's peak resident memory while the block runs, sampled every 0.1 s."""

    def __init__(self, operator: OperatorProcess) -> None:
        assert operator.process is not None and operator.process.popen is not None
        self.pid = operator.process.popen.pid
        self.peak = _rss_mib(self.pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            self.peak = max(self.peak, _rss_mib(self.pid))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()


def test_dry_runs_of_huge_templates_cost_the_operator_bounded_memory_and_delay_no_other_tenant(
        kube: Kube, guarded: OperatorProcess, namespace: str, victim: str, table: str) -> None:
    assert cli(["put", "-t", table, "victim.token", plaintext("webhook-victim-v1")]) == 0
    kube.apply(credstash_store("main", table), victim)
    kube.apply(synced_secret("app", "main", [{"key": "token", "name": "victim.token"}], refreshInterval="3s",
                             target={"template": {"data": {"line": "t={{ token }}"}}}), victim)
    wait_ready(kube, victim, "app")
    baseline = _rss_mib(guarded.process.popen.pid)  # type: ignore[union-attr]

    # Templates as large as the request allows: one of 880 KB, and eight of 120 KiB each.
    one = {"big": "{{ x }}" * (880_000 // 7)}
    eight = {f"k{i}": "{{ x }}" * (120 * 1024 // 7) for i in range(8)}
    stop = threading.Event()
    refused: list[int] = []
    attempts: list[int] = []

    def dry_runs(template: dict[str, str]) -> None:
        while not stop.is_set():
            body = synced_secret(f"dry-{uuid.uuid4().hex[:6]}", "main", [{"key": "x", "name": "n"}],
                                 target={"template": {"data": template}})
            attempts.append(1)
            try:
                kube.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "syncedsecrets", body,
                                                            dry_run="All")
            except ApiException as exc:
                refused.append(exc.status)

    with PeakMemory(guarded) as memory, ThreadPoolExecutor(32) as pool:
        for i in range(32):
            pool.submit(dry_runs, one if i % 2 else eight)
        time.sleep(5)
        try:
            victim_rotation("the victim's rotation (a template render) under 32 streams of dry runs",
                            lambda: cli(["put", "-a", "-t", table, "victim.token", plaintext("webhook-victim-v2")]),
                            lambda: (kube.secret_data(victim, "app") or {}).get("line") == "t=webhook-victim-v2",
                            3 + VICTIM_MARGIN)
            time.sleep(5)
        finally:
            stop.set()
    print(f"\noperator RSS {baseline:.0f} MiB before, {memory.peak:.0f} MiB at most under the dry runs "
          f"({len(refused)} refused)")
    # Every one refused: as invalid (422), or, past its namespace's share of the webhook, as the webhook
    # (kopf's configuration fails closed) not answering it (500). None admitted.
    assert refused and len(refused) == len(attempts) and set(refused) <= {422, 500}
    assert memory.peak - baseline < 100, f"the operator grew from {baseline:.0f} to {memory.peak:.0f} MiB"


def _post_directly(port: int, context: ssl.SSLContext) -> int:
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "1", "operation": "CREATE", "userInfo": {"username": "someone"}, "object": {}}}
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.request("POST", "/syncedsecret", json.dumps(review), {"Content-Type": "application/json"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_webhook_answers_the_apiserver_and_no_other_client(
        kube: Kube, guarded: OperatorProcess, control_plane: ControlPlane, namespace: str, table: str) -> None:
    assert control_plane.pki is not None
    port = int(guarded.extra_env["STASHSYNC_WEBHOOK_PORT"])
    anonymous = ssl.create_default_context(cafile=str(control_plane.pki.ca_cert))
    with pytest.raises((ssl.SSLError, ConnectionError, socket.timeout, OSError)):
        _post_directly(port, anonymous)  # a pod that reaches the port, with no client certificate

    # The apiserver presents its certificate: its reviews are answered, refusals and all.
    assert cli(["put", "-t", table, "db.user", plaintext("guarded-webhook-user")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    with pytest.raises(ApiException) as caught:
        kube.apply(synced_secret("dsn", "main", [{"key": "user", "name": "db.user"}],
                                 target={"template": {"data": {"dsn": "{{ user }}:{{ password }}"}}}), namespace)
    assert caught.value.status == 422 and "password" in str(caught.value.body)
    kube.apply(synced_secret("dsn", "main", [{"key": "user", "name": "db.user"}],
                             target={"template": {"data": {"dsn": "{{ user }}@db"}}}), namespace)
    wait_ready(kube, namespace, "dsn")
