"""One shared kubernetes_asyncio ApiClient for the operator's own writes (kopf has its own)."""

from __future__ import annotations

import os

from kubernetes_asyncio import client, config

from stashsync.errors import StashError

_api: client.ApiClient | None = None


async def api_client() -> client.ApiClient:
    global _api
    if _api is None:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
        else:
            await config.load_kube_config()
        _api = client.ApiClient()
    return _api


async def close() -> None:
    global _api
    if _api is not None:
        await _api.close()
        _api = None


def is_status(exc: BaseException, *codes: int) -> bool:
    return isinstance(exc, client.ApiException) and exc.status in codes


def api_error(exc: client.ApiException) -> StashError:
    """A refused API call as a condition: the status line only, since the body may echo what we sent."""
    return StashError(f"Kubernetes API answered {exc.status} {exc.reason}", reason="KubernetesError")
