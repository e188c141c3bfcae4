"""What the e2e scenarios share: the stashsync CLI run as a user runs it, an admin's store for one
namespace, and app workloads: the operator's own image as the app (it has a shell, python3 and the
stashsync CLI), always on the host's network (the only one the node has)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.harness.cluster import IMAGE_REPOSITORY, IMAGE_TAG, LocalCluster
from tests.objects import cluster_credstash_store


def stashsync(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([str(Path(sys.executable).parent / "stashsync"), *args], env={**os.environ, **env},
                          text=True, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"stashsync {args[0]}: {done.stderr.strip()}")
    return done.stdout


def namespace_with_store(cluster: LocalCluster, namespace: str, table: str) -> str:
    """A namespace and the admin's ClusterCredentialStore on `table`, usable from that namespace only.
    Returns the store's name."""
    cluster.kubectl("create", "namespace", namespace)
    store = cluster_credstash_store(f"{namespace}-{table}", table)
    store["spec"]["conditions"] = [{"namespaces": [namespace]}]
    cluster.apply(store, namespace=namespace)
    return str(store["metadata"]["name"])


def cluster_store_ref(name: str) -> dict[str, str]:
    return {"kind": "ClusterCredentialStore", "name": name}


def app_deployment(name: str, command: list[str], env: list[dict[str, Any]] | None = None,
                   secret_volume: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": f"{IMAGE_REPOSITORY}:{IMAGE_TAG}", "imagePullPolicy": "Never",
                                 "command": command, "env": env or [],
                                 "securityContext": {"readOnlyRootFilesystem": True,
                                                     "allowPrivilegeEscalation": False}}
    pod: dict[str, Any] = {"hostNetwork": True, "enableServiceLinks": False, "automountServiceAccountToken": False,
                           "terminationGracePeriodSeconds": 1, "containers": [container],
                           "securityContext": {"runAsUser": 65532, "runAsNonRoot": True}}
    if secret_volume:
        container["volumeMounts"] = [{"name": "secret", "mountPath": "/secrets", "readOnly": True}]
        pod["volumes"] = [{"name": "secret", "secret": {"secretName": secret_volume}}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod}}}
