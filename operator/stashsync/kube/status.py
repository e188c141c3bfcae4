"""Patch the status subresource of our custom resources."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from stashsync.api import GROUP, VERSION
from stashsync.api import conditions as cond
from stashsync.kube.client import is_status

MERGE_PATCH = "application/merge-patch+json"  # the client would pick JSON-patch for a dict body


async def patch_status(api: client.ApiClient, plural: str, namespace: str | None, name: str,
                       status: dict[str, Any]) -> None:
    custom = client.CustomObjectsApi(api)
    body = {"status": status}
    try:
        if namespace is None:
            await custom.patch_cluster_custom_object_status(GROUP, VERSION, plural, name, body,
                                                            _content_type=MERGE_PATCH)
        else:
            await custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, plural, name, body,
                                                               _content_type=MERGE_PATCH)
    except client.ApiException as exc:
        if not is_status(exc, 404):  # the object went away meanwhile: nothing to report to
            raise


async def write_ready(api: client.ApiClient, plural: str, body: dict[str, Any], ok: bool, reason: str, message: str,
                      extra: dict[str, Any] | None = None, observed: bool = True) -> None:
    """The Ready condition and `extra` status fields in one merge patch; observedGeneration too,
    unless `observed` is False (a failed sync does not count as having seen the generation)."""
    meta = body["metadata"]
    generation = int(meta.get("generation", 0))
    previous = (body.get("status") or {}).get("conditions")
    status: dict[str, Any] = {"conditions": cond.ready(ok, reason, message, generation, previous), **(extra or {})}
    if observed:
        status["observedGeneration"] = generation
    await patch_status(api, plural, meta.get("namespace"), meta["name"], status)


async def get_object(api: client.ApiClient, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    custom = client.CustomObjectsApi(api)
    try:
        body: dict[str, Any] = await custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    except client.ApiException as exc:
        if is_status(exc, 404):
            return None
        raise
    return body


async def set_condition(api: client.ApiClient, plural: str, namespace: str | None, name: str, kind: str, ok: bool,
                        reason: str, message: str, extra: dict[str, Any] | None = None,
                        generation: int | None = None, attempts: int = 5) -> None:
    """Set one condition of an object that has several writers (a store's Ready and FeedReady): read
    the live object and patch the whole list with its resourceVersion, again on a conflict, so one
    writer never undoes another's condition (a merge patch replaces the list). `extra`: status fields
    written with it; `generation`: the condition's observedGeneration."""
    custom = client.CustomObjectsApi(api)
    for _ in range(attempts):
        try:
            if namespace is None:
                live = await custom.get_cluster_custom_object(GROUP, VERSION, plural, name)
            else:
                live = await custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        except client.ApiException as exc:
            if is_status(exc, 404):
                return
            raise
        conditions = [c for c in (live.get("status") or {}).get("conditions") or [] if c.get("type") != kind]
        old = next((c for c in (live.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)
        value = "True" if ok else "False"
        since = old["lastTransitionTime"] if old and old.get("status") == value else cond.now()
        condition: dict[str, Any] = {"type": kind, "status": value, "reason": reason, "message": message,
                                     "lastTransitionTime": since}
        if generation is not None:
            condition["observedGeneration"] = generation
        conditions.append(condition)
        status: dict[str, Any] = {**(extra or {}), "conditions": conditions}
        if generation is not None:
            status["observedGeneration"] = generation
        body = {"metadata": {"resourceVersion": live["metadata"]["resourceVersion"]}, "status": status}
        try:
            if namespace is None:
                await custom.patch_cluster_custom_object_status(GROUP, VERSION, plural, name, body,
                                                                _content_type=MERGE_PATCH)
            else:
                await custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, plural, name, body,
                                                                   _content_type=MERGE_PATCH)
            return
        except client.ApiException as exc:
            if is_status(exc, 404):
                return
            if not is_status(exc, 409):
                raise
