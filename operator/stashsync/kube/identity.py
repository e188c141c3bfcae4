"""Kubernetes reads the store code needs: namespace labels (cluster store conditions) and service
account tokens from the TokenRequest API (web identity auth)."""

from __future__ import annotations

import time

from kubernetes_asyncio import client

from stashsync.kube.client import is_status

NAMESPACE_LABELS_TTL_SECONDS = 30.0
TOKEN_SECONDS = 3600  # the STS session is refreshed well within this

class NamespaceLabels:
    """Namespaces' labels, cached briefly: every sync of a cluster store with a namespaceSelector asks."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self._cached: dict[str, tuple[float, dict[str, str] | None]] = {}

    async def get(self, name: str) -> dict[str, str] | None:
        """The labels of namespace `name`; None if it does not exist."""
        cached = self._cached.get(name)
        if cached is not None and time.monotonic() - cached[0] < NAMESPACE_LABELS_TTL_SECONDS:
            return cached[1]
        try:
            namespace = await client.CoreV1Api(self.api).read_namespace(name)
            labels: dict[str, str] | None = dict(namespace.metadata.labels or {})
        except client.ApiException as exc:
            if not is_status(exc, 404):
                raise
            labels = None
        self._cached[name] = (time.monotonic(), labels)
        return labels

    def forget(self, name: str) -> None:
        """The namespace changed (a watch said so): read its labels anew next time."""
        self._cached.pop(name, None)


async def service_account_token(api: client.ApiClient, namespace: str, name: str, audiences: list[str]) -> str:
    """A short-lived token for a service account, bound to nothing but its audiences."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=audiences, expiration_seconds=TOKEN_SECONDS))
    response = await client.CoreV1Api(api).create_namespaced_service_account_token(
        name, namespace, request)
    token: str = response.status.token
    return token
