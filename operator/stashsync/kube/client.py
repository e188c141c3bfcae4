"""The operator's own kubernetes_asyncio ApiClient (kopf has its own), kept in the memo."""

from __future__ import annotations

import os
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config

from stashsync.errors import StashError

WATCH_READ_BUFSIZE = 2**21  # as the library sets it: one watch event can be as large as etcd allows


async def connect() -> client.ApiClient:
    """In a pod: the service account; elsewhere: the kubeconfig. Into a configuration of our own,
    not the library's process-wide default."""
    configuration = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)
    else:
        await config.load_kube_config(config_file=kubeconfig_path(), client_configuration=configuration)
    api = client.ApiClient(configuration)
    _ignore_proxy_env(api)
    return api


def _ignore_proxy_env(api: client.ApiClient) -> None:
    """The library's session trusts the environment: aiohttp then looks up ~/.netrc and the proxy
    variables in a worker thread on every request, two thread hops per Secret or status write (about
    5 % of the operator's CPU while 2,000 objects converge). kopf's own client does not (its
    networking.trust_env is off), and a proxy in the kubeconfig (proxy-url) is passed per request
    anyway, so ours follows kopf: the same connector, the environment ignored."""
    rest = api.rest_client
    trusting: aiohttp.ClientSession = rest.pool_manager
    rest.pool_manager = aiohttp.ClientSession(connector=trusting.connector, trust_env=False,
                                              read_bufsize=WATCH_READ_BUFSIZE)
    trusting.detach()  # the connector now belongs to the new session, which closes it


def kubeconfig_path() -> str | None:
    """KUBECONFIG as it is now (the library reads it once, at import), as kubectl takes it."""
    return os.environ.get("KUBECONFIG") or None


async def send(api: client.ApiClient, method: str, path: str, body: Any,
               content_type: str = "application/json") -> None:
    """A write whose answer nobody reads: its status is checked (an ApiException, as the generated
    methods raise) but the object it returns is not built into models, which for a Secret (its
    timestamps parsed by dateutil) is a third of the write's CPU."""
    await api.call_api(path, method, header_params={"Content-Type": content_type, "Accept": "application/json"},
                       body=body, auth_settings=["BearerToken"], response_types_map={},
                       _return_http_data_only=True)


def is_status(exc: BaseException, *codes: int) -> bool:
    return isinstance(exc, client.ApiException) and exc.status in codes


def api_error(exc: client.ApiException) -> StashError:
    """A refused API call as a condition: the status line only, since the body may echo what we sent."""
    return StashError(f"Kubernetes API answered {exc.status} {exc.reason}", reason="KubernetesError")
