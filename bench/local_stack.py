"""The benchmarks' environment: a real kube-apiserver + etcd, moto_server and the operator under
kopf, all local, started together and stopped together; plus the stamp each report starts with."""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from tests.harness.binaries import find_binaries
from tests.harness.controlplane import ControlPlane
from tests.harness.kube import Kube
from tests.harness.metrics import samples
from tests.harness.moto import MotoServer
from tests.harness.operator_process import OperatorProcess
from tests.objects import tenant_namespace

ROOT = Path(__file__).resolve().parents[1]



@dataclass
class Stack:
    kube: Kube
    moto: MotoServer
    operator: OperatorProcess | None
    kubeconfig: Path


@contextmanager
def local_stack(namespace: str, with_operator: bool = True, operator_env: dict[str, str] | None = None,
                aws: MotoServer | None = None) -> Iterator[Stack]:
    """A fresh control plane and operator; a fresh moto_server too, unless `aws` (one the caller
    started, filled and stops) is given, so runs that only read the same AWS state share it."""
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="stashsync-bench-"))
    with ThreadPoolExecutor(1) as pool:  # moto_server starts while the control plane does
        moto_started = pool.submit(lambda: aws or MotoServer(work / "moto").start())
        try:
            plane = ControlPlane(work / "cp", find_binaries()).start()
        except BaseException:
            if aws is None:
                moto_started.result().stop()
            raise
        moto = moto_started.result()
    os.environ.update(moto.env())
    operator = None
    ready = started  # until the stack is up
    try:
        assert plane.kubeconfig is not None
        kube = Kube(plane.kubeconfig)
        kube.install_crds()
        kube.create_namespace("stashsync-system")
        tenant_namespace(kube, namespace)  # the stores bring their own keys (TENANT_AUTH), as tenants must
        if with_operator:
            operator = OperatorProcess(work / "operator", plane.kubeconfig, moto.env(),
                                       extra_env=operator_env or {}).start()
        ready = time.monotonic()
        yield Stack(kube, moto, operator, plane.kubeconfig)
    finally:
        stopping = time.monotonic()
        if operator is not None:
            operator.kill()  # its figures are read: a graceful shutdown would only add seconds to every run
        if aws is None:
            moto.stop()
        plane.kill()
        shutil.rmtree(work, ignore_errors=True)  # etcd data of a 10,000-object run is hundreds of MiB
        # Where a benchmark's wall time goes (make bench has a time budget): set-up, run, tear-down.
        print(f"bench stack: up {ready - started:.1f} s, used {stopping - ready:.1f} s, "
              f"down {time.monotonic() - stopping:.1f} s", file=sys.stderr)


def aws_calls(stack: Stack) -> dict[str, float]:
    """"service.operation" -> AWS calls the operator has made so far (all results), from one scrape."""
    assert stack.operator is not None
    counts: dict[str, float] = {}
    for sample in samples(stack.operator.scrape(), "stashsync_aws_calls_total"):
        key = f"{sample.labels['service']}.{sample.labels['operation']}"
        counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """What changed between two aws_calls() readings (calls made in between), leaving out zeros."""
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


def proc_figures(pid: int) -> tuple[float, float]:
    """(peak RSS in MiB, CPU seconds so far) of a process, from /proc."""
    proc = Path(f"/proc/{pid}")
    status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(status["VmHWM"].split()[0]) / 1024, (int(fields[11]) + int(fields[12])) / ticks


def stamp() -> str:
    return (f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d')}; kopf {version('kopf')}, moto {version('moto')}, botocore "
            f"{version('botocore')}; local kube-apiserver v1.34.4 + etcd, moto_server, the operator under kopf.")
