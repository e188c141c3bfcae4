"""`make up`: the local stack left running for a newcomer to follow the README with real kubectl.

Starts kube-apiserver + etcd, moto_server, two real nodes (kubelet + containerd; root on Linux) and
the operator installed with Helm in a pod, writes .cache/up/env (KUBECONFIG, the kubectl built from
the pins, AWS pointed at moto) and stays up until `make down` (SIGTERM), then stops everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from tests.harness.cluster import LocalCluster

ROOT = Path(__file__).resolve().parents[1]

UP = Path(os.environ.get("STASHSYNC_CACHE", ROOT / ".cache")) / "up"


def main() -> int:
    if os.geteuid() != 0:
        print("make up: needs root on Linux (containerd, runc, the kubelet)", file=sys.stderr)
        return 1
    shutil.rmtree(UP / "cluster", ignore_errors=True)  # a fresh cluster each time, as the README promises
    UP.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    cluster = LocalCluster(UP / "cluster")
    try:
        print("==> starting the apiserver, moto, two nodes (builds the image on first use)", flush=True)
        cluster.start()
        print("==> helm install stashsync charts/stashsync", flush=True)
        cluster.install_operator()
        assert cluster.moto is not None
        kubectl = cluster.node_binaries.kubectl
        path = f"{kubectl.parent}:{Path(sys.executable).parent}:$PATH"  # kubectl, helm; the stashsync CLI
        exports = {"KUBECONFIG": str(cluster.kubeconfig), "PATH": path, **cluster.moto.env()}
        (UP / "env").write_text("".join(f"export {k}={v}\n" for k, v in exports.items()))
        (UP / "pid").write_text(str(os.getpid()))
        print(f"\nUp. In another shell:\n\n  source {UP / 'env'}\n  kubectl get nodes,pods -A\n\n"
              f"kubectl and helm: {kubectl.parent}\nStop it with: make down", flush=True)
        stop.wait()
    finally:
        print("==> stopping", flush=True)
        cluster.stop()
        (UP / "pid").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
