"""Rollout restarts: patch a pod-template annotation on Deployments, StatefulSets, DaemonSets and Argo
Rollouts so their pods restart with the new Secret, and tell when that rollout is done. The
annotation holds a keyed MAC of the content, never an unkeyed hash of the values; patching the same
value twice changes nothing (idempotent).

A SyncedSecret restarts only workloads its Secret concerns: those whose pod template uses the Secret
(a volume, a projected source, env or envFrom of any container), and those that opted in with the
annotation RESTART_OPT_IN naming it (an app that reads the Secret some other way). So a team's object
cannot restart the workloads of another team sharing its namespace by naming them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client

from stashsync.kube.client import is_status
from stashsync.kube.status import MERGE_PATCH

RESTART_ANNOTATION = "stashsync.dev/secret-mac"
# On a workload: the Secrets (comma-separated names) whose rotation may restart it although its pod
# template does not name them.
RESTART_OPT_IN = "stashsync.dev/restart-on"
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
    """Keys and values are valid labels (api.selectors.valid_labels), so they hold no selector syntax."""
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


@dataclass(frozen=True)
class Resolved:
    workloads: list[Workload]  # to restart
    refused: list[Workload]  # named or matched, but neither using the Secret nor opted in


def uses_secret(body: dict[str, Any], secret: str) -> bool:
    """The workload's pod template uses Secret `secret`, or the workload opted in to its rotations."""
    opted = ((body.get("metadata") or {}).get("annotations") or {}).get(RESTART_OPT_IN, "")
    if secret in {s.strip() for s in opted.split(",")}:
        return True
    pod = ((body.get("spec") or {}).get("template") or {}).get("spec") or {}
    for volume in pod.get("volumes") or []:
        if (volume.get("secret") or {}).get("secretName") == secret:
            return True
        if any((source.get("secret") or {}).get("name") == secret
               for source in (volume.get("projected") or {}).get("sources") or []):
            return True
    containers = [*(pod.get("containers") or []), *(pod.get("initContainers") or []),
                  *(pod.get("ephemeralContainers") or [])]
    for container in containers:
        if any((source.get("secretRef") or {}).get("name") == secret for source in container.get("envFrom") or []):
            return True
        if any(((env.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name") == secret
               for env in container.get("env") or []):
            return True
    return False


async def resolve(api: client.ApiClient, namespace: str, target: Target, secret: str) -> Resolved:
    """The workloads a target names (itself, or every one of its kind whose labels match) that Secret
    `secret` concerns. A named workload that does not exist (yet) has nothing to restart."""
    if target.name:
        found = await _read(api, Workload(namespace, target.kind, target.name))
        bodies = [found] if found is not None else []
    else:
        bodies = await _list(api, namespace, target)
    resolved = Resolved([], [])
    for body in bodies:
        workload = Workload(namespace, target.kind, str(body["metadata"]["name"]))
        (resolved.workloads if uses_secret(body, secret) else resolved.refused).append(workload)
    return resolved


async def _list(api: client.ApiClient, namespace: str, target: Target) -> list[dict[str, Any]]:
    selector = _label_selector(target.selector or {})
    if target.kind == "Rollout":
        try:
            listed = await client.CustomObjectsApi(api).list_namespaced_custom_object(
                *ARGO[:2], namespace, ARGO[2], label_selector=selector)
        except client.ApiException as exc:
            if is_status(exc, 404):
                return []  # Argo Rollouts is not installed: no Rollouts to restart
            raise
        return list(listed.get("items") or [])
    typed = await getattr(client.AppsV1Api(api), f"list_namespaced_{APPS_KINDS[target.kind]}")(
        namespace, label_selector=selector)
    return [api.sanitize_for_serialization(item) for item in typed.items]


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


class Progress(enum.Enum):
    ROLLING = "rolling"  # its controller is rolling it out
    DONE = "done"  # every replica runs the new template (or the workload is gone)
    STALLED = "stalled"  # it will not progress by itself: paused, or past its progress deadline


async def progress(api: client.ApiClient, w: Workload, generation: int) -> Progress:
    """How the rollout to `generation` stands."""
    current = await _read(api, w)
    if current is None:
        return Progress.DONE
    if _stalled(current):
        return Progress.STALLED
    return Progress.DONE if _rolled_out(current, w, generation) else Progress.ROLLING


def _stalled(current: dict[str, Any]) -> bool:
    """Paused (a Deployment's or Argo Rollout's spec.paused), or its controller gave up waiting for
    progress (ProgressDeadlineExceeded; an Argo Rollout Paused or Degraded)."""
    if (current.get("spec") or {}).get("paused"):
        return True
    status = current.get("status") or {}
    if status.get("phase") in ("Paused", "Degraded"):
        return True
    return any(c.get("type") == "Progressing" and c.get("status") == "False"
               and c.get("reason") == "ProgressDeadlineExceeded" for c in status.get("conditions") or [])


def _rolled_out(current: dict[str, Any], w: Workload, generation: int) -> bool:
    """The workload's controller has seen `generation` and every replica runs it."""
    status = current.get("status") or {}
    observed = status.get("observedGeneration")  # a string in Argo Rollouts, a number elsewhere
    if observed is None or int(observed) < generation:
        return False
    if w.kind == "DaemonSet":
        return int(status.get("updatedNumberScheduled") or 0) >= int(status.get("desiredNumberScheduled") or 0)
    wanted = (current.get("spec") or {}).get("replicas")
    return int(status.get("updatedReplicas") or 0) >= int(1 if wanted is None else wanted)
