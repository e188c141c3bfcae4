"""The test node's containerd configuration is written by a small TOML writer: it must read back as
exactly what was meant (dotted plugin names kept whole, booleans and lists as TOML has them)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.harness.node import _toml, containerd_config


def test_the_containerd_configuration_reads_back_as_written() -> None:
    config = containerd_config(Path("/run/node"))
    assert tomllib.loads(_toml(config)) == config
    cri = tomllib.loads(_toml(config))["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["containerd"]["runtimes"]["runc"]["options"] == {"SystemdCgroup": False}
