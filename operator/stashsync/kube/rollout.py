"""Rollout restarts: patch a pod-template annotation on Deployments, StatefulSets, DaemonSets and Argo
Rollouts so their pods restart with the new Secret, and tell when that rollout is done. The
annotation holds a keyed MAC of the content, never an unkeyed hash of the values; patching the same
value twice changes nothing (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client

from stashsync.kube.client import is_status
from stashsync.kube.status import MERGE_PATCH

RESTART_ANNOTATION = "stashsync.dev/secret-mac"
APPS_KINDS = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set"}
ARGO = ("argoproj.io", "v1alpha1", "rollouts")  # Argo Rollouts' Rollout: a custom resource
KINDS = (*APPS_KINDS, "Rollout")


@dataclass(frozen=True)
class Target:
    kind: str
    name: str | None = None
    selector: dict[str, str] | None = None  # matchLabels


@dataclass(frozen=True)
class Workload:
    namespace: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


def _label_selector(match_labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


async def resolve(api: client.ApiClient, namespace: str, target: Target) -> list[Workload]:
    """The workloads a target names: itself, or every one of its kind whose labels match."""
    if target.name:
        return [Workload(namespace, target.kind, target.name)]
    selector = _label_selector(target.selector or {})
    if target.kind == "Rollout":
        try:
            listed = await client.CustomObjectsApi(api).list_namespaced_custom_object(
                *ARGO[:2], namespace, ARGO[2], label_selector=selector)
        except client.ApiException as exc:
            if is_status(exc, 404):
                return []  # Argo Rollouts is not installed: no Rollouts to restart
            raise
        return [Workload(namespace, "Rollout", item["metadata"]["name"]) for item in listed.get("items") or []]
    listed = await getattr(client.AppsV1Api(api), f"list_namespaced_{APPS_KINDS[target.kind]}")(
        namespace, label_selector=selector)
    return [Workload(namespace, target.kind, item.metadata.name) for item in listed.items]


async def _read(api: client.ApiClient, w: Workload) -> dict[str, Any] | None:
    try:
        if w.kind == "Rollout":
            body: dict[str, Any] = await client.CustomObjectsApi(api).get_namespaced_custom_object(
                *ARGO[:2], w.namespace, ARGO[2], w.name)
            return body
        current = await getattr(client.AppsV1Api(api), f"read_namespaced_{APPS_KINDS[w.kind]}")(w.name, w.namespace)
        read: dict[str, Any] = api.sanitize_for_serialization(current)
        return read
    except client.ApiException as exc:
        if is_status(exc, 404):
            return None
        raise


async def restart(api: client.ApiClient, w: Workload, value: str) -> int | None:
    """Patch the workload's pod template annotation to `value`. Returns the generation to wait for,
    or None when there is nothing to restart (the workload is absent, or already carries `value`)."""
    current = await _read(api, w)
    if current is None:
        return None  # a named target that does not exist (yet) has no pods to restart
    template_meta = ((current.get("spec") or {}).get("template") or {}).get("metadata") or {}
    if (template_meta.get("annotations") or {}).get(RESTART_ANNOTATION) == value:
        return None
    body = {"spec": {"template": {"metadata": {"annotations": {RESTART_ANNOTATION: value}}}}}
    if w.kind == "Rollout":
        patched: dict[str, Any] = await client.CustomObjectsApi(api).patch_namespaced_custom_object(
            *ARGO[:2], w.namespace, ARGO[2], w.name, body, _content_type=MERGE_PATCH)
        return int(patched["metadata"].get("generation", 0))
    result = await getattr(client.AppsV1Api(api), f"patch_namespaced_{APPS_KINDS[w.kind]}")(
        w.name, w.namespace, body, _content_type="application/strategic-merge-patch+json")
    return int(result.metadata.generation or 0)


async def rolled_out(api: client.ApiClient, w: Workload, generation: int) -> bool:
    """The workload's controller has seen `generation` and every replica runs it (or it is gone)."""
    current = await _read(api, w)
    if current is None:
        return True
    status = current.get("status") or {}
    observed = status.get("observedGeneration")  # a string in Argo Rollouts, a number elsewhere
    if observed is None or int(observed) < generation:
        return False
    if w.kind == "DaemonSet":
        return int(status.get("updatedNumberScheduled") or 0) >= int(status.get("desiredNumberScheduled") or 0)
    wanted = (current.get("spec") or {}).get("replicas")
    return int(status.get("updatedReplicas") or 0) >= int(1 if wanted is None else wanted)
