"""The e2e suite's cluster: started once per run (`make e2e`), shared by every scenario."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.cluster import LocalCluster
from tests.harness.moto import MotoServer


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
def moto(cluster: LocalCluster) -> MotoServer:
    """The cluster's moto_server, which the operator pod uses: the shared AWS fixtures (aws_env, kms_key,
    table, wrap_table, ...) then set up what the pod reads."""
    assert cluster.moto is not None
    return cluster.moto


@pytest.fixture(scope="session")
def operator_release(cluster: LocalCluster) -> LocalCluster:
    """The operator installed by Helm (scenario 1 measures the install; later ones only need it)."""
    if not cluster.operator_installed:
        cluster.install_operator()
    return cluster


FIGURES: dict[str, str] = {}


def record(name: str, value: str) -> None:
    """A measured figure, printed at the end of the run (tests never assert on timings)."""
    FIGURES[name] = value


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures; bench/bench_node.py names a file in STASHSYNC_E2E_FIGURES to keep them."""
    if FIGURES:
        terminalreporter.section("e2e figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
        if os.environ.get("STASHSYNC_E2E_FIGURES"):
            Path(os.environ["STASHSYNC_E2E_FIGURES"]).write_text(json.dumps(FIGURES, indent=1))
