"""A real kube-apiserver + etcd on loopback, RBAC on, admin as a client certificate (system:masters).

There is no controller-manager and no kubelet: no garbage collection, no namespace finalization,
no pods. Tests must not depend on those. The apiserver presents a client certificate (the admin's,
from the test CA) to every admission webhook, as a cluster admin configures it with an
AdmissionConfiguration, so a webhook can answer the apiserver alone. With node=True the apiserver is
set up for the real node of tests/harness/node.py (service account tokens for pods, its client
certificate for the kubelet).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.harness.binaries import Binaries
from tests.harness.certs import Pki, make_pki
from tests.harness.ports import free_port, wait_for_http_ok
from tests.harness.processes import Process


@dataclass
class ControlPlane:
    folder: Path
    binaries: Binaries
    etcd: Process | None = None
    apiserver: Process | None = None
    pki: Pki | None = None
    url: str = ""
    kubeconfig: Path | None = None
    node: bool = False

    def start(self) -> ControlPlane:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pki = make_pki(self.folder / "pki")
        self._start_etcd()
        self._start_apiserver()
        return self

    def _start_etcd(self) -> None:
        """Not waited for: etcd's start (about a second) overlaps the apiserver's, which retries
        storage until etcd answers and is not ready before it does (etcd failing shows in its log)."""
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        self.etcd = Process("etcd", [
            str(self.binaries.etcd), "--name=default", f"--data-dir={self.folder / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}", f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=default=http://127.0.0.1:{peer}", "--unsafe-no-fsync", "--log-level=warn",
        ], self.folder / "etcd.log").start()

    def restart_apiserver(self, down_seconds: float = 0.0) -> None:
        """Kill kube-apiserver (SIGKILL) and start it again on the same port, etcd untouched: what
        clients see when a control-plane node fails over."""
        import time

        assert self.apiserver is not None
        self.apiserver.kill()
        time.sleep(down_seconds)
        self._start_apiserver(port=int(self.url.rsplit(":", 1)[1]))

    def _start_apiserver(self, port: int | None = None) -> None:
        assert self.pki is not None
        port = port or free_port()
        self.url = f"https://127.0.0.1:{port}"
        if self.node:
            # Pods get service account tokens; logs and exec reach the kubelet as admin. Service
            # ClusterIPs come from loopback: nothing routes them (there is no kube-proxy), but a pod
            # that tried one would not send a packet off this machine.
            node_args = [f"--kubelet-client-certificate={self.pki.admin_cert}",
                         f"--kubelet-client-key={self.pki.admin_key}", "--service-cluster-ip-range=127.0.100.0/24"]
        else:
            node_args = ["--disable-admission-plugins=ServiceAccount", "--service-cluster-ip-range=10.0.0.0/24"]
        admission = self._admission_config()
        self.apiserver = Process("kube-apiserver", [
            str(self.binaries.kube_apiserver), f"--etcd-servers={self.etcd_url}",
            f"--cert-dir={self.folder / 'certs'}", f"--secure-port={port}", "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1", "--authorization-mode=RBAC", "--allow-privileged=true",
            f"--tls-cert-file={self.pki.serving_cert}", f"--tls-private-key-file={self.pki.serving_key}",
            f"--client-ca-file={self.pki.ca_cert}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={self.pki.sa_pub}",
            f"--service-account-signing-key-file={self.pki.sa_key}",
            f"--admission-control-config-file={admission}",
            *node_args,
        ], self.folder / "kube-apiserver.log").start()
        self.kubeconfig = self.folder / "kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump(self.kubeconfig_dict()))
        self.kubeconfig.chmod(0o600)
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        wait_for_http_ok(f"{self.url}/readyz", self.apiserver, 120, "kube-apiserver", context)

    def _admission_config(self) -> Path:
        """The webhooks' client credentials: the admin certificate, for every webhook ('*')."""
        assert self.pki is not None
        clients = self.folder / "webhook-clients.kubeconfig"
        clients.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "users": [
            {"name": "*", "user": {"client-certificate": str(self.pki.admin_cert),
                                   "client-key": str(self.pki.admin_key)}}]}))
        config = self.folder / "admission.yaml"
        webhook = {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "WebhookAdmissionConfiguration",
                   "kubeConfigFile": str(clients)}
        config.write_text(yaml.safe_dump({
            "apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration", "plugins": [
                {"name": "ValidatingAdmissionWebhook", "configuration": webhook},
                {"name": "MutatingAdmissionWebhook", "configuration": webhook}]}))
        return config

    def kubeconfig_dict(self, user: str = "admin", token: str | None = None) -> dict[str, object]:
        assert self.pki is not None
        credentials: dict[str, str] = ({"token": token} if token else
                                       {"client-certificate": str(self.pki.admin_cert),
                                        "client-key": str(self.pki.admin_key)})
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": "stashsync-test",
            "clusters": [{"name": "test", "cluster": {"server": self.url,
                                                      "certificate-authority": str(self.pki.ca_cert)}}],
            "users": [{"name": user, "user": credentials}],
            "contexts": [{"name": "stashsync-test", "context": {"cluster": "test", "user": user}}],
        }

    def stop(self) -> None:
        for process in (self.apiserver, self.etcd):
            if process is not None:
                process.stop()

    def kill(self) -> None:
        """SIGKILL both: for a plane whose state nobody reads again, a graceful stop only takes time."""
        for process in (self.apiserver, self.etcd):
            if process is not None:
                process.kill()
