"""Patch the status subresource of our custom resources."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from stashsync.api import GROUP, VERSION
from stashsync.api import conditions as cond
from stashsync.kube.client import is_status, send

MERGE_PATCH = "application/merge-patch+json"  # the client would pick JSON-patch for a dict body


async def patch_status(api: client.ApiClient, plural: str, namespace: str | None, name: str,
                       status: dict[str, Any], resource_version: str | None = None) -> None:
    """A merge patch of `status`; with `resource_version`, only onto that version of the object
    (else the apiserver answers 409, which is raised)."""
    body: dict[str, Any] = {"status": status}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    scope = f"/namespaces/{namespace}" if namespace is not None else ""
    try:
        await send(api, "PATCH", f"/apis/{GROUP}/{VERSION}{scope}/{plural}/{name}/status", body, MERGE_PATCH)
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


async def get_object(api: client.ApiClient, plural: str, namespace: str | None,
                     name: str) -> dict[str, Any] | None:
    """One of our objects (namespace None: a cluster-scoped one), or None when it does not exist."""
    custom = client.CustomObjectsApi(api)
    try:
        if namespace is None:
            body: dict[str, Any] = await custom.get_cluster_custom_object(GROUP, VERSION, plural, name)
        else:
            body = await custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
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
    for _ in range(attempts):
        live = await get_object(api, plural, namespace, name)
        if live is None:
            return
        previous = (live.get("status") or {}).get("conditions")
        status: dict[str, Any] = {**(extra or {}),
                                  "conditions": cond.with_condition(kind, ok, reason, message, generation, previous)}
        if generation is not None:
            status["observedGeneration"] = generation
        try:
            await patch_status(api, plural, namespace, name, status, live["metadata"]["resourceVersion"])
            return
        except client.ApiException as exc:
            if not is_status(exc, 409):  # a conflict: someone wrote meanwhile, read again
                raise
