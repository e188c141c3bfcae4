"""The operator's own kubernetes_asyncio ApiClient (kopf has its own), kept in the memo."""

from __future__ import annotations

import os

from kubernetes_asyncio import client, config

from stashsync.errors import StashError


async def connect() -> client.ApiClient:
    """In a pod: the service account; elsewhere: the kubeconfig. Into a configuration of our own,
    not the library's process-wide default."""
    configuration = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)
    else:
        await config.load_kube_config(config_file=kubeconfig_path(), client_configuration=configuration)
    return client.ApiClient(configuration)


def kubeconfig_path() -> str | None:
    """KUBECONFIG as it is now (the library reads it once, at import), as kubectl takes it."""
    return os.environ.get("KUBECONFIG") or None


def is_status(exc: BaseException, *codes: int) -> bool:
    return isinstance(exc, client.ApiException) and exc.status in codes


def api_error(exc: client.ApiException) -> StashError:
    """A refused API call as a condition: the status line only, since the body may echo what we sent."""
    return StashError(f"Kubernetes API answered {exc.status} {exc.reason}", reason="KubernetesError")
