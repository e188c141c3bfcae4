"""Patch the status subresource of our custom resources."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from stashsync.api import GROUP, VERSION
from stashsync.kube.client import api_client

MERGE_PATCH = "application/merge-patch+json"  # the client would pick JSON-patch for a dict body


async def patch_status(plural: str, namespace: str | None, name: str, status: dict[str, Any]) -> None:
    api = client.CustomObjectsApi(await api_client())
    body = {"status": status}
    try:
        if namespace is None:
            await api.patch_cluster_custom_object_status(GROUP, VERSION, plural, name, body,
                                                         _content_type=MERGE_PATCH)
        else:
            await api.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, plural, name, body,
                                                            _content_type=MERGE_PATCH)
    except client.ApiException as exc:
        if exc.status != 404:  # the object went away meanwhile: nothing to report to
            raise


async def get_object(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    api = client.CustomObjectsApi(await api_client())
    try:
        body: dict[str, Any] = await api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return body
