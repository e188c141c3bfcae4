"""Workloads the e2e scenarios run on the node: the operator's own image as the app (it has a shell,
python3 and the stashsync CLI), always on the host's network (the only one the node has)."""

from __future__ import annotations

from typing import Any

from tests.harness.cluster import IMAGE_REPOSITORY, IMAGE_TAG


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
