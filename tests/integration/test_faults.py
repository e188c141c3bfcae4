"""AWS faults between the operator and moto: clear reasons, bounded retries, recovery, no crash."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from stashsync.cli.main import main as cli
from tests.harness.fault_proxy import FaultProxy
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.moto import MotoServer
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready, wait_warning
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    p = FaultProxy(moto.url).start()
    yield p
    p.stop()


@pytest.mark.parametrize(("mode", "reason"), [("throttle", "Throttled"), ("error", "Unavailable"),
                                             ("drop", "Unavailable")])
def test_aws_faults_give_a_reason_keep_the_secret_and_recover(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, proxy: FaultProxy,
        mode: str, reason: str) -> None:
    value = plaintext(f"fault-{mode}-value")
    assert cli(["put", "-t", table, "f.key", value]) == 0
    store = credstash_store("main", table)
    store["spec"]["endpoint"] = proxy.url  # only this store's calls go through the proxy
    kube.apply(store, namespace)
    kube.apply(synced_secret("app", "main", [{"key": "k", "name": "f.key"}], refreshInterval="2s"), namespace)
    wait_ready(kube, namespace, "app")

    proxy.mode = mode
    start_count, started = proxy.count(), time.monotonic()
    condition = wait_ready(kube, namespace, "app", status="False", reason=reason, timeout=60)
    assert "f.key" in condition["message"] or "AWS" in condition["message"]
    wait_warning(kube, namespace, "app", reason)
    time.sleep(6)
    seen, elapsed = proxy.count() - start_count, time.monotonic() - started
    # Bounded: botocore tries each call at most 3 times, and the loop retries no sooner than the
    # 2 s refresh minus its 20% jitter (1.6 s). No storm.
    assert seen <= 3 * (elapsed / 1.6 + 2), f"{seen} requests in {elapsed:.0f}s"
    assert kube.secret_data(namespace, "app") == {"k": value}
    assert operator.process is not None and operator.process.alive()

    proxy.mode = "pass"
    wait_ready(kube, namespace, "app", reason="Synced", timeout=60)


def test_slow_aws_answers_delay_but_do_not_break_syncs(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, proxy: FaultProxy) -> None:
    assert cli(["put", "-t", table, "slow.key", plaintext("slow-value-1")]) == 0
    store = credstash_store("main", table)
    store["spec"]["endpoint"] = proxy.url
    kube.apply(store, namespace)
    kube.apply(synced_secret("app", "main", [{"key": "k", "name": "slow.key"}], refreshInterval="1s"), namespace)
    wait_ready(kube, namespace, "app")
    proxy.mode, proxy.delay = "slow", 2.0  # every AWS answer 2 s late, well under the 20 s read timeout
    assert cli(["put", "-t", table, "-v", "2", "slow.key", plaintext("slow-value-2")]) == 0
    wait_for(lambda: kube.secret_data(namespace, "app") == {"k": "slow-value-2"}, 60, "new version through a slow link")
    condition = wait_ready(kube, namespace, "app", reason="Synced")
    assert condition["status"] == "True"
    assert operator.process is not None and operator.process.alive()
