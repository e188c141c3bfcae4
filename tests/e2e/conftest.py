"""The e2e suite's cluster: started once per run (`make e2e`), shared by every scenario."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.cluster import LocalCluster
from tests.harness.kube import Kube


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() != 0:  # the node runs containers: root on Linux (README); CI runs as root
        raise pytest.UsageError("make e2e needs root on Linux (containerd, runc, the kubelet)")


@pytest.fixture(scope="session")
def cluster(workdir: Path) -> Iterator[LocalCluster]:
    local = LocalCluster(workdir / "cluster")
    try:
        yield local.start()
    finally:
        local.stop()


@pytest.fixture(scope="session")
def node_kube(cluster: LocalCluster) -> Kube:
    return Kube(cluster.kubeconfig)


FIGURES: dict[str, str] = {}


def record(name: str, value: str) -> None:
    """A measured figure, printed at the end of the run (tests never assert on timings)."""
    FIGURES[name] = value


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("e2e figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
