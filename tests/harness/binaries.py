"""Where kube-apiserver, etcd and helm come from: the user's (envtest conventions) or our cached build."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    etcd: Path
    helm: Path


def find_binaries() -> Binaries:
    built: Path | None = None

    def ours() -> Path:
        nonlocal built
        if built is None:
            out = subprocess.run([str(ROOT / "hack" / "build-controlplane.sh")], check=True, text=True,
                                 stdout=subprocess.PIPE)
            built = Path(out.stdout.strip().splitlines()[-1])
        return built

    assets = os.environ.get("KUBEBUILDER_ASSETS")

    def pick(name: str, env: str) -> Path:
        if os.environ.get(env):
            return Path(os.environ[env])
        if assets and (Path(assets) / name).exists():
            return Path(assets) / name
        return ours() / name

    return Binaries(kube_apiserver=pick("kube-apiserver", "TEST_ASSET_KUBE_APISERVER"),
                    etcd=pick("etcd", "TEST_ASSET_ETCD"), helm=pick("helm", "TEST_ASSET_HELM"))
