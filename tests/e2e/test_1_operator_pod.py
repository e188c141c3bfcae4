"""Scenario 1: `helm install` as a user runs it; the operator pod becomes Ready as uid 65532 on a
read-only root filesystem."""

from __future__ import annotations

from datetime import datetime

from tests.e2e.conftest import record
from tests.harness.cluster import OPERATOR_NAMESPACE, OPERATOR_PODS, LocalCluster
from tests.harness.kube import ready_condition


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_helm_install_brings_the_operator_pod_up_ready_as_uid_65532_on_a_read_only_root(
        cluster: LocalCluster) -> None:
    seconds = cluster.install_operator()
    record("image build (warm cache)", f"{cluster.image_build_seconds:.0f} s")
    record("helm install --wait until the operator pod is Ready", f"{seconds:.1f} s")

    [pod] = cluster.pods(OPERATOR_NAMESPACE, OPERATOR_PODS)
    ready = ready_condition(pod) or {}
    assert ready.get("status") == "True"
    started = pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
    record("operator container start to pod Ready",
           f"{(_time(ready['lastTransitionTime']) - _time(started)).total_seconds():.0f} s (1 s resolution)")
    assert pod["spec"]["hostNetwork"] is True
    name = pod["metadata"]["name"]

    def in_pod(script: str) -> str:
        return cluster.kubectl("exec", "-n", OPERATOR_NAMESPACE, name, "--", "sh", "-c", script, check=False)

    assert in_pod("id -u; id -g").split() == ["65532", "65532"]
    assert "Read-only file system" in in_pod("touch /opt/stashsync/x 2>&1; touch /x 2>&1")
    assert in_pod("touch /tmp/x && echo writable").strip() == "writable"  # the emptyDir the chart mounts
    assert in_pod("command -v pip gcc cc || echo none").strip() == "none"  # no pip, no compiler
    # Both probes answer on the pod's own address (the node's), not on every interface.
    probes = pod["spec"]["containers"][0]
    assert probes["livenessProbe"]["httpGet"]["path"] == probes["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
