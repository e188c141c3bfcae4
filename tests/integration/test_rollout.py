"""rolloutRestartTargets: one pod-template patch per change, keyed MAC, nothing on the first sync."""

from __future__ import annotations

import time
from typing import Any

import pytest

from stashsync.api import API_VERSION
from stashsync.cli.main import main as cli
from stashsync.kube.rollout import RESTART_ANNOTATION
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration


def _pod_template(labels: dict[str, str]) -> dict[str, Any]:
    """Pods that mount Secret "app" (so its rotations restart them)."""
    return {"metadata": {"labels": labels}, "spec": {
        "containers": [{"name": "app", "image": "registry.invalid/app",
                        "volumeMounts": [{"name": "creds", "mountPath": "/creds"}]}],
        "volumes": [{"name": "creds", "secret": {"secretName": "app"}}]}}


def _workloads(kube: Kube, namespace: str) -> None:
    kube.apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}},
                                              "template": _pod_template({"app": "web"})}})
    kube.apps.create_namespaced_stateful_set(namespace, {
        "metadata": {"name": "db", "labels": {"tier": "db"}},
        "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": _pod_template({"app": "db"})}})


def _state(kube: Kube, namespace: str) -> tuple[int, int, str | None, str | None]:
    web = kube.apps.read_namespaced_deployment("web", namespace)
    db = kube.apps.read_namespaced_stateful_set("db", namespace)
    return (web.metadata.generation, db.metadata.generation,
            (web.spec.template.metadata.annotations or {}).get(RESTART_ANNOTATION),
            (db.spec.template.metadata.annotations or {}).get(RESTART_ANNOTATION))


def test_rotation_restarts_each_target_once_with_a_keyed_mac_and_the_first_sync_restarts_nothing(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    _workloads(kube, namespace)
    for name in ("r.user", "r.pass"):
        assert cli(["put", "-t", table, name, plaintext(f"{name}-v1")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    ssec = synced_secret("app", "main", [{"key": "user", "name": "r.user"}, {"key": "pass", "name": "r.pass"}],
                         rolloutRestartTargets=[{"name": "web"},
                                                {"kind": "StatefulSet", "selector": {"matchLabels": {"tier": "db"}}}])
    kube.apply(ssec, namespace)
    wait_ready(kube, namespace, "app")
    status = kube.read(API_VERSION, "SyncedSecret", "app", namespace)["status"]
    assert status["rolloutMAC"] == status["dataMAC"]
    assert _state(kube, namespace) == (1, 1, None, None)  # first sync: nothing restarted

    # Both credentials change before the operator looks again: one restart per target, not two.
    for name in ("r.user", "r.pass"):
        assert cli(["put", "-a", "-t", table, name, plaintext(f"{name}-v2")]) == 0
    ssec["spec"]["target"] = {"labels": {"touched": "yes"}}  # a spec change wakes the loop at once
    kube.apply(ssec, namespace)
    wait_for(lambda: (kube.secret_data(namespace, "app") or {}).get("pass") == "r.pass-v2", 30, "rotated")
    status = wait_for(lambda: (s := kube.read(API_VERSION, "SyncedSecret", "app", namespace)["status"])["rolloutMAC"]
                      == s["dataMAC"] and s["observedGeneration"] == 2 and s, 30, "rollout recorded")
    mac = status["dataMAC"]
    assert mac.startswith("hmac-sha256-o:")  # keyed per object (crypto.mac.PREFIX)
    assert _state(kube, namespace) == (2, 2, mac, mac)
    wait_for(lambda: "RolloutRestarted" in {e.reason for e in kube.events_for(namespace, "app")}, 15,
             "RolloutRestarted event")

    # Nothing changes: no more restarts, even after refreshes.
    ssec["spec"]["refreshInterval"] = "1s"
    kube.apply(ssec, namespace)
    time.sleep(3)
    assert _state(kube, namespace) == (2, 2, mac, mac)
