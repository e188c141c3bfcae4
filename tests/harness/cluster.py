"""A whole local cluster for the e2e suite and `make up`: the apiserver + etcd, moto_server, real
nodes (tests/harness/node.py; two, so that two operator replicas on the host's network each have a
node, as they would in a real cluster) and the operator installed with Helm from charts/stashsync,
running in a pod from the image hack/build-image.sh builds here.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.harness.binaries import ROOT, Binaries, find_binaries
from tests.harness.controlplane import ControlPlane
from tests.harness.fault_proxy import FaultProxy
from tests.harness.moto import MotoServer
from tests.harness.node import FIRST_NODE, Node, NodeBinaries, find_node_binaries
from tests.harness.ports import free_port

RELEASE, OPERATOR_NAMESPACE = "stashsync", "stashsync-system"
OPERATOR_PODS = "app.kubernetes.io/name=stashsync"
IMAGE_REPOSITORY, IMAGE_TAG = "stashsync", "dev"
VALUES = ROOT / "tests" / "e2e" / "node-values.yaml"


def image_archives() -> tuple[list[Path], float]:
    """Build the operator and pause images (cached) and return their archives and the seconds spent."""
    folder = Path(os.environ.get("STASHSYNC_CACHE", ROOT / ".cache")) / "node" / "images"
    started = time.monotonic()
    subprocess.run([str(ROOT / "hack" / "build-image.sh"), "--save", str(folder), f"{IMAGE_REPOSITORY}:{IMAGE_TAG}"],
                   check=True, stdout=subprocess.DEVNULL)
    return sorted(folder.glob("*.tar")), time.monotonic() - started


@dataclass
class LocalCluster:
    folder: Path
    binaries: Binaries = field(default_factory=find_binaries)
    node_binaries: NodeBinaries = field(default_factory=lambda: find_node_binaries(ROOT))
    plane: ControlPlane | None = None
    moto: MotoServer | None = None
    node_count: int = 2
    nodes: list[Node] = field(default_factory=list)
    aws_proxy: FaultProxy | None = None  # between the operator pod and moto: tests hold calls there
    image_build_seconds: float = 0.0
    operator_installed: bool = False
    values: dict[str, Any] = field(default_factory=dict)  # the chart values of the last install

    def start(self) -> LocalCluster:
        archives, self.image_build_seconds = image_archives()
        self.plane = ControlPlane(self.folder / "controlplane", self.binaries, node=True).start()
        self.moto = MotoServer(self.folder / "moto").start()
        self.aws_proxy = FaultProxy(self.moto.url).start()
        for index in range(self.node_count):
            address = FIRST_NODE.rsplit(".", 1)[0] + f".{index + 1}"
            node = Node(self.folder / f"node-{address}", self.plane, self.node_binaries, images=archives,
                        name=address, runs_controllers=index == 0)
            self.nodes.append(node)  # before it starts: stop() then cleans up a node that failed half-way
            node.start()
        self.kubectl("wait", "--for=condition=Ready", *(f"node/{node.name}" for node in self.nodes), "--timeout=120s")
        return self

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    @property
    def kubeconfig(self) -> Path:
        assert self.plane is not None and self.plane.kubeconfig is not None
        return self.plane.kubeconfig

    def env(self) -> dict[str, str]:
        """This process's environment with KUBECONFIG set (for kubectl and helm)."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        done = subprocess.run([str(self.node_binaries.kubectl), *args], env=self.env(), text=True,
                              input=stdin, capture_output=True)
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def helm(self, *args: str) -> str:
        done = subprocess.run([str(self.binaries.helm), *args], env=self.env(), text=True, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"helm {' '.join(args[:2])}: {done.stderr.strip()}")
        return done.stdout

    def operator_values(self, **overrides: Any) -> dict[str, Any]:
        """The chart values the operator runs with here: the image built here, the node's network,
        AWS on moto and the apiserver on loopback (no kube-proxy routes the kubernetes Service)."""
        assert self.plane is not None and self.moto is not None and self.aws_proxy is not None
        values: dict[str, Any] = yaml.safe_load(VALUES.read_text())
        values["env"].update({
            **self.moto.env(), "AWS_ENDPOINT_URL": self.aws_proxy.url,  # moto's keys, through the proxy
            "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": self.plane.url.rsplit(":", 1)[1],
        })
        # Ports free on this machine: on the host's network the chart's defaults may be taken.
        values.update(metricsPort=free_port(), livenessPort=free_port(), **overrides)
        return values

    def install_operator(self, **overrides: Any) -> float:
        """`helm upgrade --install` of charts/stashsync; returns the seconds until its pods are Ready."""
        values = self.folder / "values.yaml"
        self.values = self.operator_values(**overrides)
        values.write_text(yaml.safe_dump(self.values))
        started = time.monotonic()
        self.helm("upgrade", "--install", RELEASE, str(ROOT / "charts" / "stashsync"), "--namespace",
                  OPERATOR_NAMESPACE, "--create-namespace", "--values", str(values), "--wait", "--timeout", "180s")
        self.operator_installed = True
        return time.monotonic() - started

    def apply(self, *docs: dict[str, Any], namespace: str) -> None:
        """`kubectl apply` of manifests, as a user would."""
        self.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(docs))

    def wait(self, what: str, condition: str, namespace: str, timeout: int = 120) -> None:
        self.kubectl("wait", "-n", namespace, f"--for={condition}", what, f"--timeout={timeout}s")

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The pods a selector matches that are not on their way out, oldest first."""
        items = json.loads(self.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json"))["items"]
        return sorted((pod for pod in items if not pod["metadata"].get("deletionTimestamp")),
                      key=lambda pod: pod["metadata"]["creationTimestamp"])

    def keep_operator_logs(self) -> Path:
        """Copy the operator pods' logs (and their previous containers') to a folder that outlives the
        pods, before a scenario kills or deletes one: the leak test greps them all at the end."""
        folder = self.folder / "operator-logs"
        folder.mkdir(exist_ok=True)
        for pod in self.pods(OPERATOR_NAMESPACE, OPERATOR_PODS):
            name = pod["metadata"]["name"]
            for previous in ("", "--previous"):
                log = self.kubectl("logs", "-n", OPERATOR_NAMESPACE, name, *filter(None, [previous]), check=False)
                if log:
                    (folder / f"{name}{previous}.log").write_text(log)
        return folder

    def stop(self) -> None:
        if self.aws_proxy is not None:
            self.aws_proxy.release()
            self.aws_proxy.stop()
        for part in (*self.nodes, self.moto, self.plane):
            if part is not None:
                part.stop()
