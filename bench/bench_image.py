"""The operator image, built here and run: size, build times, and the time from `docker run` to a
live operator, then a SyncedSecret synced by the containerised operator. Writes docs/benchmarks/image.md.

Needs root on Linux (hack/build-image.sh runs debootstrap and its own dockerd). The container uses
host networking and talks only to the local apiserver and moto_server on 127.0.0.1; it runs as uid
65532 with a read-only root filesystem, as the chart runs it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import yaml
from bench.local_stack import ROOT, local_stack, stamp
from bench.report import write_report
from tests.harness.kube import ready_condition, wait_for
from tests.harness.operator_process import TEST_TENANCY
from tests.harness.ports import free_port
from tests.objects import TENANT_AUTH, synced_secret

from stashsync.api import API_VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.sources.credstash import CredstashSource

IMAGE = "stashsync:dev"
NS = "bench"
CACHE = ROOT / ".cache" / "image"


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "DOCKER_HOST": f"unix://{CACHE}/docker.sock"}
    return subprocess.run(["docker", *args], env=env, check=check, capture_output=True)


def _flat_kubeconfig(source: Path, target: Path) -> None:
    """The kubeconfig with its certificate files inlined, readable by the container's uid 65532."""
    config = yaml.safe_load(source.read_text())
    for entry in config["clusters"]:
        path = entry["cluster"].pop("certificate-authority")
        entry["cluster"]["certificate-authority-data"] = base64.b64encode(Path(path).read_bytes()).decode()
    for entry in config["users"]:
        for key in ("client-certificate", "client-key"):
            if key in entry["user"]:
                entry["user"][f"{key}-data"] = base64.b64encode(Path(entry["user"].pop(key)).read_bytes()).decode()
    target.write_text(yaml.safe_dump(config))
    target.chmod(0o644)


def _build() -> dict[str, str]:
    started = time.monotonic()
    subprocess.run([str(ROOT / "hack" / "build-image.sh"), IMAGE], check=True, capture_output=True)
    report = dict(line.split(" ", 1) for line in (CACHE / "report.txt").read_text().splitlines())
    report["total_seconds"] = f"{time.monotonic() - started:.1f}"
    return report


def _start_dockerd() -> subprocess.Popen[bytes]:
    dockerd = subprocess.Popen(
        ["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false", f"--data-root={CACHE}/docker",
         f"--exec-root={CACHE}/docker-exec", "-H", f"unix://{CACHE}/docker.sock", f"--pidfile={CACHE}/docker.pid"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: _docker("version", check=False).returncode == 0, 30, "dockerd")
    return dockerd


def main() -> None:
    cold = _build() if os.environ.get("BENCH_IMAGE_COLD") else None
    warm = _build()
    dockerd = _start_dockerd()
    try:
        size = int(_docker("image", "inspect", IMAGE, "--format", "{{.Size}}").stdout)
        with local_stack(NS, with_operator=False) as stack:
            kube = stack.kube
            kms = boto3.client("kms")
            kms.create_alias(AliasName="alias/credstash", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
            source = CredstashSource(AwsClients(AwsAuth(region="us-east-1")), table="bench-image")
            source.create_table()
            source.put("image.key", b"from-the-container", 1, {})
            with tempfile.TemporaryDirectory() as folder:
                kubeconfig = Path(folder) / "kubeconfig"
                _flat_kubeconfig(stack.kubeconfig, kubeconfig)
                os.chmod(folder, 0o755)
                liveness = f"http://127.0.0.1:{free_port()}/healthz"
                env = {**stack.moto.env(), "KUBECONFIG": "/kube/kubeconfig", "STASHSYNC_NAMESPACE": "stashsync-system",
                       "STASHSYNC_TENANCY": TEST_TENANCY}
                env_args = [arg for k, v in env.items() for arg in ("-e", f"{k}={v}")]
                started = time.monotonic()
                _docker("run", "--detach", "--name", "stashsync-bench", "--network", "host", "--read-only",
                        "--user", "65532:65532", "--tmpfs", "/tmp", "-v", f"{folder}:/kube:ro", *env_args,
                        IMAGE, "run", "--liveness", liveness)
                try:
                    wait_for(lambda: _live(liveness), 60, "the containerised operator live", interval=0.05)
                    live = time.monotonic() - started
                    kube.apply({"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": "main"},
                                "spec": {"credstash": {"table": "bench-image", "region": "us-east-1"},
                                         "auth": TENANT_AUTH}}, NS)
                    applied = time.monotonic()
                    kube.apply(synced_secret("app", "main", [{"key": "k", "name": "image.key"}]), NS)
                    wait_for(lambda: (ready_condition(kube.get(API_VERSION, "SyncedSecret", "app", NS)) or {}).get(
                        "status") == "True", 60, "the SyncedSecret Ready", interval=0.05)
                    synced = time.monotonic() - applied
                    assert kube.secret_data(NS, "app") == {"k": "from-the-container"}
                    user = _docker("exec", "stashsync-bench", "id", "-u").stdout.decode().strip()
                except BaseException:
                    logs = _docker("logs", "stashsync-bench", check=False)
                    print((logs.stdout + logs.stderr).decode(errors="replace")[-4000:])
                    raise
                finally:
                    _docker("rm", "--force", "stashsync-bench", check=False)
    finally:
        dockerd.terminate()
        dockerd.wait()
        # dockerd leaves its data root and netns bind-mounted; unmounted, `make clean` can remove them.
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(str(CACHE))), reverse=True):
            subprocess.run(["umount", mount], check=False)
    rows = [f"| image size | {size / 1e6:.0f} MB |",
            f"| warm build (base and dependency wheels cached) | {warm['total_seconds']} s |",
            f"| `docker run` to live (kopf liveness 200) | {live:.2f} s |",
            f"| SyncedSecret applied to Ready, by the containerised operator | {synced:.2f} s |",
            f"| user in the container | {user} (read-only root filesystem) |"]
    if cold is not None:
        rows.insert(1, f"| cold build (debootstrap base + wheelhouse + image) | {cold['total_seconds']} s |")
    lines = ["# The operator image", "", stamp(), "",
             "Command: `sudo python -m bench.bench_image`; with `BENCH_IMAGE_COLD=1` on a machine whose "
             ".cache/image is empty, the first build is timed as cold.", "",
             "Built by hack/build-image.sh: a Debian bookworm base made with debootstrap (python3 from "
             "Debian), a wheelhouse made with the host's pip, `docker build --network none`. The operator "
             "runs with host networking against the local apiserver and moto_server.", "",
             "| what | figure |", "|---|---|", *rows]
    write_report("image", lines)
    print(json.dumps({"size": size, "live_seconds": live, "synced_seconds": synced}))


def _live(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    main()
