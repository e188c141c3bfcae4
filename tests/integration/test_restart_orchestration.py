"""Restart orchestration on the real apiserver: 200 Secrets rotating at once against 20 Deployments
restart each Deployment once, at most `maxConcurrent` rollouts run at a time (a bare apiserver has no
controller to finish a rollout: the test reports each one done, as the Deployment controller would),
and Argo Rollouts' Rollout is restarted like a Deployment."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stashsync.api import API_VERSION, GROUP, VERSION
from stashsync.cli.main import main as cli
from stashsync.kube.rollout import RESTART_ANNOTATION
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration
SECRETS, DEPLOYMENTS, CAP = 200, 20, 4


@pytest.fixture
def orchestrating_operator(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    """The operator with a 5 s quiet window and at most CAP rollouts at a time, each held until done (all
    here are of one namespace, whose share is raised to the whole cap: test_isolation_shared tests shares)."""
    operator.stop()
    tuned = OperatorProcess(operator.folder.parent / "operator-restarts", operator.kubeconfig, operator.aws_env,
                            operator.namespace, extra_env={"STASHSYNC_RESTART_WINDOW": "5",
                                                           "STASHSYNC_RESTART_MAX_CONCURRENT": str(CAP),
                                                           "STASHSYNC_RESTART_PER_NAMESPACE": str(CAP),
                                                           "STASHSYNC_RESTART_PROGRESS_TIMEOUT": "600"})
    try:
        yield tuned.start()
    finally:
        tuned.stop()
        operator.start()


def deployment(name: str, secrets: list[str]) -> dict[str, Any]:
    """A Deployment whose pods take their environment from `secrets` (so their rotations restart it)."""
    labels = {"app": name}
    container = {"name": "app", "image": "registry.invalid/app",
                 "envFrom": [{"secretRef": {"name": s}} for s in secrets]}
    return {"metadata": {"name": name}, "spec": {"selector": {"matchLabels": labels}, "template": {
        "metadata": {"labels": labels}, "spec": {"containers": [container]}}}}


def generations(kube: Kube, namespace: str) -> dict[str, int]:
    return {d.metadata.name: d.metadata.generation for d in kube.apps.list_namespaced_deployment(namespace).items}


def finish_rollout(kube: Kube, namespace: str, name: str, generation: int) -> None:
    """What the Deployment controller reports when every replica runs the new template."""
    kube.apps.patch_namespaced_deployment_status(name, namespace, {"status": {
        "observedGeneration": generation, "replicas": 1, "updatedReplicas": 1}})


def test_two_hundred_secrets_rotating_at_once_restart_each_of_twenty_deployments_once_capped(
        kube: Kube, orchestrating_operator: OperatorProcess, namespace: str, table: str) -> None:
    operator = orchestrating_operator
    for i in range(DEPLOYMENTS):
        kube.apps.create_namespaced_deployment(namespace, deployment(
            f"web-{i:02d}", [f"s-{j:03d}" for j in range(i, SECRETS, DEPLOYMENTS)]))
    assert cli(["put", "-t", table, "shared.pass", plaintext("storm-v1")]) == 0
    store = credstash_store("main", table)
    store["spec"]["rateLimit"] = {"requestsPerSecond": 500, "burst": 500}
    kube.apply(store, namespace)
    for i in range(SECRETS):
        kube.apply(synced_secret(f"s-{i:03d}", "main", [{"key": "pass", "name": "shared.pass"}], refreshInterval="5s",
                                 rolloutRestartTargets=[{"name": f"web-{i % DEPLOYMENTS:02d}"}]), namespace)
    for i in range(SECRETS):
        wait_ready(kube, namespace, f"s-{i:03d}", timeout=120)
    assert set(generations(kube, namespace).values()) == {1}  # first syncs restart nothing
    requests0 = operator.metric("stashsync_restart_requests_total")

    assert cli(["put", "-a", "-t", table, "shared.pass", plaintext("storm-v2")]) == 0
    wait_for(lambda: all((kube.secret_data(namespace, f"s-{i:03d}") or {}).get("pass") == "storm-v2"
                         for i in range(SECRETS)), 120, "every Secret rotated")
    finished: set[str] = set()

    def started(done: frozenset[str]) -> set[str] | None:
        running = {n for n, g in generations(kube, namespace).items() if g > 1} - done
        return running if running and (len(running) == CAP or len(running) + len(done) == DEPLOYMENTS) else None

    while len(finished) < DEPLOYMENTS:
        # Only CAP rollouts run at once: the next ones wait until one of those is done.
        running = wait_for(lambda done=frozenset(finished): started(done), 60,  # type: ignore[misc]
                           f"the next rollouts to start ({len(finished)} done)")
        assert len(running) <= CAP
        assert operator.metric("stashsync_restarts_in_progress") <= CAP
        for name in running:
            finish_rollout(kube, namespace, name, 2)
        finished |= running

    assert generations(kube, namespace) == {f"web-{i:02d}": 2 for i in range(DEPLOYMENTS)}  # once each
    assert operator.metric("stashsync_restart_requests_total") - requests0 == SECRETS
    assert operator.metric("stashsync_restarts_total", kind="Deployment") == DEPLOYMENTS

    def recorded() -> bool:
        statuses = [kube.read(API_VERSION, "SyncedSecret", f"s-{i:03d}", namespace)["status"] for i in range(SECRETS)]
        return all(s.get("rolloutMAC") == s.get("pendingRolloutMAC") for s in statuses)

    wait_for(recorded, 60, "every SyncedSecret's restart recorded")
    time.sleep(7)  # longer than the window: a late request would have restarted something again by now
    assert generations(kube, namespace) == {f"web-{i:02d}": 2 for i in range(DEPLOYMENTS)}
    for i in range(SECRETS):  # remove them together here, rather than one by one in the fixture
        kube.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "syncedsecrets", f"s-{i:03d}")


ROLLOUT_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "rollouts.argoproj.io"},
    "spec": {"group": "argoproj.io", "scope": "Namespaced",
             "names": {"kind": "Rollout", "plural": "rollouts", "singular": "rollout", "listKind": "RolloutList"},
             "versions": [{"name": "v1alpha1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}]}}


def test_an_argo_rollout_is_restarted_like_a_deployment(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, tmp_path: Path) -> None:
    crd = tmp_path / "rollouts.yaml"
    crd.write_text(yaml.safe_dump(ROLLOUT_CRD))
    kube.install_crds([crd])
    kube.custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", namespace, "rollouts", {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "canary", "labels": {"t": "a"}},
        "spec": {"replicas": 1, **deployment("canary", ["app"])["spec"], "strategy": {"canary": {}}}})
    assert cli(["put", "-t", table, "argo.pass", plaintext("argo-v1")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": "pass", "name": "argo.pass"}], refreshInterval="1s",
                             rolloutRestartTargets=[{"kind": "Rollout", "selector": {"matchLabels": {"t": "a"}}}]),
               namespace)
    wait_ready(kube, namespace, "app")
    assert cli(["put", "-a", "-t", table, "argo.pass", plaintext("argo-v2")]) == 0

    def restarted() -> str | None:
        rollout = kube.custom.get_namespaced_custom_object("argoproj.io", "v1alpha1", namespace, "rollouts", "canary")
        return ((rollout["spec"]["template"].get("metadata") or {}).get("annotations") or {}).get(RESTART_ANNOTATION)

    mac = wait_for(restarted, 30, "the Rollout's pod template annotated")
    status = wait_for(lambda: (s := kube.read(API_VERSION, "SyncedSecret", "app", namespace)["status"])
                      .get("rolloutMAC") == mac and s, 30, "the restart recorded")
    assert status["rolloutMAC"] == status["pendingRolloutMAC"]
    wait_for(lambda: "RolloutRestarted" in {e.reason for e in kube.events_for(namespace, "app")}, 15,
             "RolloutRestarted event")
