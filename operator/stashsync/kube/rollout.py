"""Rollout restarts: patch a pod-template annotation on Deployments, StatefulSets and DaemonSets so
their pods restart with the new Secret. The annotation holds the Secret's keyed MAC, never an
unkeyed hash of the values; patching the same MAC twice changes nothing (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes_asyncio import client

from stashsync.kube.client import is_status

RESTART_ANNOTATION = "stashsync.dev/secret-mac"
KINDS = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set"}


@dataclass(frozen=True)
class Target:
    kind: str
    name: str | None = None
    selector: dict[str, str] | None = None  # matchLabels


def _label_selector(match_labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


async def restart(api: client.ApiClient, namespace: str, targets: list[Target], mac: str) -> list[str]:
    """Patch every target whose pod template does not carry `mac` yet; returns "Kind/name" patched."""
    apps = client.AppsV1Api(api)
    patched: list[str] = []
    body = {"spec": {"template": {"metadata": {"annotations": {RESTART_ANNOTATION: mac}}}}}
    for target in targets:
        suffix = KINDS[target.kind]
        if target.name:
            names = [target.name]
        else:
            listed = await getattr(apps, f"list_namespaced_{suffix}")(
                namespace, label_selector=_label_selector(target.selector or {}))
            names = [item.metadata.name for item in listed.items]
        for name in names:
            try:
                current = await getattr(apps, f"read_namespaced_{suffix}")(name, namespace)
            except client.ApiException as exc:
                if is_status(exc, 404):
                    continue  # a named target that does not exist (yet) has no pods to restart
                raise
            template_meta = current.spec.template.metadata
            annotations = (template_meta.annotations if template_meta else None) or {}
            if annotations.get(RESTART_ANNOTATION) == mac:
                continue
            await getattr(apps, f"patch_namespaced_{suffix}")(name, namespace, body,
                                                              _content_type="application/strategic-merge-patch+json")
            patched.append(f"{target.kind}/{name}")
    return patched
