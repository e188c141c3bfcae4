from __future__ import annotations

from typing import Any

from stashsync.api import API_VERSION
from tests.harness.kube import Kube, ready_condition, wait_for


def wait_ready(kube: Kube, namespace: str, name: str, status: str = "True", reason: str | None = None,
               timeout: float = 60, kind: str = "SyncedSecret", interval: float = 0.2) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        c = ready_condition(kube.get(API_VERSION, kind, name, namespace))
        if c and c["status"] == status and (reason is None or c.get("reason") == reason):
            return c
        return None

    return dict(wait_for(check, timeout, f"{kind} {namespace}/{name} Ready={status} reason={reason}", interval))


def warning_reasons(kube: Kube, namespace: str, name: str) -> set[str]:
    return {e.reason for e in kube.events_for(namespace, name) if e.type == "Warning"}


def wait_warning(kube: Kube, namespace: str, name: str, reason: str, timeout: float = 15) -> None:
    """Events are posted asynchronously (kopf's posting queue): wait for the Warning, don't peek."""
    wait_for(lambda: reason in warning_reasons(kube, namespace, name), timeout, f"Warning event {reason} on {name}")


def printed_rows(kube: Kube, path: str) -> dict[str, dict[str, Any]]:
    """The rows `kubectl get` prints for the objects at `path`, by name: the server renders the CRD's
    printer columns when asked for a Table."""
    table = kube.api_client.call_api(path, "GET", header_params={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}, response_type="object",
        auth_settings=["BearerToken"], _return_http_data_only=True)
    names = [c["name"] for c in table["columnDefinitions"]]
    return {r["cells"][0]: dict(zip(names, r["cells"], strict=True)) for r in table["rows"]}
