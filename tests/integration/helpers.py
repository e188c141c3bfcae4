from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stashsync.api import API_VERSION
from tests.harness.controlplane import ControlPlane
from tests.harness.kube import Kube, ready_condition, wait_for
from tests.harness.operator_process import OperatorProcess
from tests.harness.ports import free_port


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


# What a victim's rotation may take beyond its own refreshInterval while another tenant attacks a shared
# mechanism: a sync or two on a loaded 2-core machine, not the attack's own timescale (a 20 s long poll,
# a 300 s rollout timeout, a store's backlog).
VICTIM_MARGIN = 12.0


def victim_rotation(what: str, rotate: Callable[[], object], arrived: Callable[[], bool], deadline: float,
                    patience: float = 330.0) -> float:
    """Rotate, then the seconds until `arrived()`. Waits up to `patience`, so that a failure says how
    long the rotation took, and fails when that is past `deadline`."""
    rotate()
    started = time.monotonic()
    wait_for(arrived, patience, what)
    delay = time.monotonic() - started
    print(f"\n{what}: {delay:.1f} s (deadline {deadline:.0f} s)")
    assert delay <= deadline, f"{what} took {delay:.1f} s, past its refreshInterval and margin ({deadline:.0f} s)"
    return delay


WEBHOOK = "test-validation.stashsync.dev"  # webhook names are <id>.<this>: a domain


@contextmanager
def replaced_operator(operator: OperatorProcess, folder: str, **extra_env: str) -> Iterator[OperatorProcess]:
    """The session's operator steps aside for one with `extra_env`, and runs again afterwards."""
    operator.stop()
    replacement = OperatorProcess(operator.folder.parent / folder, operator.kubeconfig, operator.aws_env,
                                  operator.namespace, extra_env=extra_env)
    try:
        yield replacement.start()
    finally:
        replacement.stop()
        operator.start()


@contextmanager
def webhook_operator(kube: Kube, operator: OperatorProcess, control_plane: ControlPlane,
                     **extra_env: str) -> Iterator[OperatorProcess]:
    """The session's operator replaced by one serving the validating webhook, which kopf registers
    (and which is removed afterwards, or later requests would call a webhook that is gone)."""
    assert control_plane.pki is not None
    pki = control_plane.pki
    registrations = client.AdmissionregistrationV1Api(kube.api_client)
    with replaced_operator(operator, "operator-webhook", STASHSYNC_WEBHOOK_PORT=str(free_port()),
                           STASHSYNC_WEBHOOK_ADDR="127.0.0.1", STASHSYNC_WEBHOOK_HOST="127.0.0.1",
                           STASHSYNC_WEBHOOK_MANAGED=WEBHOOK, STASHSYNC_WEBHOOK_CERT=str(pki.serving_cert),
                           STASHSYNC_WEBHOOK_KEY=str(pki.serving_key), STASHSYNC_WEBHOOK_CA=str(pki.ca_cert),
                           **extra_env) as hooked:
        try:
            wait_for(lambda: any(w.metadata.name == WEBHOOK and w.webhooks
                                 for w in registrations.list_validating_webhook_configuration().items),
                     60, "kopf to register the webhook")
            yield hooked
        finally:
            try:
                registrations.delete_validating_webhook_configuration(WEBHOOK)
            except ApiException as exc:
                if exc.status != 404:
                    raise
