"""A real node on loopback, in the manner of Kubernetes' hack/local-up-cluster.sh: containerd + runc,
kubelet, kube-controller-manager and kube-scheduler around a ControlPlane started with node=True.

The network rule shapes it: pods must use hostNetwork (the CNI configuration names a plugin that
does not exist, so a pod that asks for its own network fails instead of getting a bridge), the
kubelet serves on 127.0.0.1 and calls itself 127.0.0.1 (the node's address, so the apiserver's
calls to it and the kubelet's probes stay on loopback), and images come from archives imported
straight into containerd: there is no registry. Needs root on Linux.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.harness.controlplane import ControlPlane
from tests.harness.ports import free_port, wait_for_http_ok, wait_until
from tests.harness.processes import Process

PAUSE_IMAGE = "stashsync.local/pause:1"
# A node's name is its address, one of 127.0.0.0/8 each: the kubelet refuses a loopback --node-ip but
# takes an IP as its hostname override, and then reports that IP as its InternalIP (so probes and the
# apiserver's calls to it stay on loopback). Two nodes on one host need two addresses for the same
# hostNetwork ports, as two machines would have.
FIRST_NODE = "127.0.0.1"


@dataclass(frozen=True)
class NodeBinaries:
    kubelet: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    containerd: str = "containerd"
    ctr: str = "ctr"


def find_node_binaries(root: Path) -> NodeBinaries:
    out = subprocess.run([str(root / "hack" / "build-controlplane.sh"), "--node"], check=True, text=True,
                         stdout=subprocess.PIPE)
    built = Path(out.stdout.strip().splitlines()[-1])
    return NodeBinaries(kubelet=built / "kubelet", kube_controller_manager=built / "kube-controller-manager",
                        kube_scheduler=built / "kube-scheduler", kubectl=built / "kubectl")


def containerd_config(folder: Path) -> dict[str, Any]:
    cri = "io.containerd.grpc.v1.cri"
    return {
        "version": 2,
        "root": str(folder / "root"),
        "state": str(folder / "state"),
        "grpc": {"address": str(folder / "containerd.sock")},
        "ttrpc": {"address": str(folder / "containerd-ttrpc.sock")},
        "disabled_plugins": ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                             "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"],
        "plugins": {
            "io.containerd.internal.v1.opt": {"path": str(folder / "opt")},
            cri: {
                "sandbox_image": PAUSE_IMAGE,
                "enable_selinux": False,
                # Sandboxes ask for oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE, which
                # build machines and CI sandboxes often lack. Clamp to containerd's own instead.
                "restrict_oom_score_adj": True,
                "containerd": {"snapshotter": "overlayfs", "default_runtime_name": "runc",
                               "runtimes": {"runc": {"runtime_type": "io.containerd.runc.v2",
                                                     "options": {"SystemdCgroup": False}}}},
                "cni": {"bin_dir": str(folder / "cni" / "bin"), "conf_dir": str(folder / "cni" / "net.d")},
                "registry": {"config_path": str(folder / "registry")},
            },
        },
    }


# containerd reports its network ready once it has loaded a network configuration besides loopback;
# the kubelet keeps the node NotReady until then. The plugin named here is never installed: pods
# must use hostNetwork (the network rule), and one that does not fails at sandbox creation.
HOST_NETWORK_ONLY_CNI = {"cniVersion": "0.4.0", "name": "stashsync-host-network-only",
                         "plugins": [{"type": "stashsync-no-pod-network"}]}


def _toml(config: dict[str, Any]) -> str:
    """The few TOML shapes containerd's configuration needs: scalars, string lists, nested tables."""
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(json.dumps(x) for x in v) + "]"
        return json.dumps(v)

    def key(k: str) -> str:  # plugin names hold dots: quoted, they stay one key
        return json.dumps(k) if "." in k else k

    def table(prefix: str, body: dict[str, Any]) -> None:
        if prefix:
            lines.append(f"\n[{prefix}]")
        lines.extend(f"{k} = {value(v)}" for k, v in body.items() if not isinstance(v, dict))
        for k, v in body.items():
            if isinstance(v, dict):
                table(f"{prefix}.{key(k)}" if prefix else key(k), v)

    table("", config)
    return "\n".join(lines) + "\n"


@dataclass
class Node:
    folder: Path
    plane: ControlPlane
    binaries: NodeBinaries
    images: list[Path] = field(default_factory=list)
    containerd: Process | None = None
    kubelet: Process | None = None
    controller_manager: Process | None = None
    scheduler: Process | None = None
    name: str = FIRST_NODE
    # The cluster's kube-controller-manager and kube-scheduler run beside one node only.
    runs_controllers: bool = True

    @property
    def cgroup_root(self) -> str:
        """The node's own cgroup tree: a kubelet cleans up pod cgroups it does not know, so two
        nodes on one host (or two runs at once) must not share /kubepods."""
        run = hashlib.sha256(str(self.folder.resolve()).encode()).hexdigest()[:8]
        return f"/stashsync-node-{self.name}-{run}"

    @property
    def socket(self) -> Path:
        return self.folder / "containerd" / "containerd.sock"

    def start(self) -> Node:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._start_containerd()
        for archive in self.images:
            self.import_image(archive)
        if self.runs_controllers:
            self._start_controllers()
        self._make_cgroups()
        self._start_kubelet()
        return self

    def _start_containerd(self) -> None:
        folder = self.folder / "containerd"
        (folder / "cni" / "net.d").mkdir(parents=True, exist_ok=True)
        (folder / "cni" / "bin").mkdir(parents=True, exist_ok=True)
        (folder / "cni" / "net.d" / "10-host-network-only.conflist").write_text(json.dumps(HOST_NETWORK_ONLY_CNI))
        config = folder / "config.toml"
        config.write_text(_toml(containerd_config(folder)))
        self.containerd = Process("containerd", [self.binaries.containerd, "--config", str(config)],
                                  self.folder / "containerd.log").start()

        def answers() -> bool:
            assert self.containerd is not None
            self.containerd.check_alive()
            return self.ctr("version").returncode == 0

        wait_until(answers, 60, "containerd")

    def ctr(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binaries.ctr, "--address", str(self.socket), "--namespace", "k8s.io", *args],
                              check=check, text=True, capture_output=True)

    def import_image(self, archive: Path) -> None:
        self.ctr("images", "import", str(archive), check=True)

    def _start_controllers(self) -> None:
        assert self.plane.pki is not None and self.plane.kubeconfig is not None
        pki, kubeconfig = self.plane.pki, str(self.plane.kubeconfig)
        port = free_port()
        self.controller_manager = Process("kube-controller-manager", [
            str(self.binaries.kube_controller_manager), f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={port}", "--leader-elect=false",
            f"--service-account-private-key-file={pki.sa_key}", f"--root-ca-file={pki.ca_cert}",
            "--use-service-account-credentials=true",
        ], self.folder / "kube-controller-manager.log").start()
        port = free_port()
        self.scheduler = Process("kube-scheduler", [
            str(self.binaries.kube_scheduler), f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={port}", "--leader-elect=false",
        ], self.folder / "kube-scheduler.log").start()

    def _start_kubelet(self) -> None:
        assert self.plane.pki is not None and self.plane.kubeconfig is not None
        folder = self.folder / "kubelet"
        folder.mkdir(parents=True, exist_ok=True)
        self.kubelet_port, healthz_port = free_port(), free_port()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": self.name, "port": self.kubelet_port, "readOnlyPort": 0,
            "cgroupRoot": self.cgroup_root,
            "healthzBindAddress": "127.0.0.1", "healthzPort": healthz_port,
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "cgroupDriver": "cgroupfs", "failSwapOn": False, "failCgroupV1": False,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(self.plane.pki.ca_cert)}},
            "authorization": {"mode": "Webhook"},
            "podLogsDir": str(self.folder / "pod-logs"),
            # Secret volumes and pod status follow changes within seconds, as a test needs.
            "syncFrequency": "5s", "nodeStatusUpdateFrequency": "5s",
            # A shared build machine's disk may be fuller than a node's defaults allow; this node
            # must not evict or collect images for it.
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                             "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False, "resolvConf": "/etc/resolv.conf",
            # The host's firewall is not the node's to change.
            "makeIPTablesUtilChains": False,
        }
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
        self.kubelet = Process("kubelet", [
            str(self.binaries.kubelet), f"--config={folder / 'config.yaml'}",
            f"--kubeconfig={self.plane.kubeconfig}", f"--hostname-override={self.name}",
            f"--root-dir={folder / 'root'}", f"--cert-dir={folder / 'pki'}", "--v=1",
        ], self.folder / "kubelet.log").start()
        wait_for_http_ok(f"http://127.0.0.1:{healthz_port}/healthz", self.kubelet, 120, "kubelet")

    def stop(self) -> None:
        for process in (self.kubelet, self.scheduler, self.controller_manager):
            if process is not None:
                process.stop()
        self._remove_containers()
        if self.containerd is not None:
            self.containerd.stop()
        self._unmount()
        self._remove_cgroups()

    def _cgroup_dirs(self) -> list[Path]:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
        return [Path(m[1] + self.cgroup_root) for m in mounts if m[2] in ("cgroup", "cgroup2")]

    def _make_cgroups(self) -> None:
        for folder in self._cgroup_dirs():
            folder.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):  # cgroup v1 cpusets start empty: inherit
                if (folder / name).exists() and not (folder / name).read_text().strip():
                    (folder / name).write_text((folder.parent / name).read_text())

    def _remove_cgroups(self) -> None:
        """Deepest first: a cgroup is removed with rmdir once its children and processes are gone."""
        for folder in self._cgroup_dirs():
            if not folder.exists():
                continue
            tree = sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
            for cgroup in [*tree, folder]:
                with contextlib.suppress(OSError):  # still has a process: left, as a crashed node's would be
                    cgroup.rmdir()

    def _remove_containers(self) -> None:
        """Stop every task the node started: runc's containers outlive containerd and the kubelet."""
        if self.containerd is None or not self.containerd.alive():
            return
        for container in self.ctr("containers", "list", "--quiet").stdout.split():
            self.ctr("tasks", "kill", "--signal", "SIGKILL", container)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.ctr("tasks", "list", "--quiet").stdout.strip():
            time.sleep(0.2)
        for container in self.ctr("containers", "list", "--quiet").stdout.split():
            self.ctr("tasks", "delete", "--force", container)
            self.ctr("containers", "delete", container)

    def _unmount(self) -> None:
        """What the kubelet and containerd mounted under our folder (volumes, rootfs, shm)."""
        prefix = str(self.folder.resolve()) + "/"
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for target in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
