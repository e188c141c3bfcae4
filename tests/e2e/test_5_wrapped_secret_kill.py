"""Scenario 5: a WrappedSecret unwrapped by the operator running in its pod. Its AWS calls for the token
are held in flight while the operator container is SIGKILLed through containerd, and, for a second
token, while its pod is deleted; each time the replacement resumes and the value arrives exactly once."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from stashsync.crypto.wrap import token_sha256
from tests.harness.cluster import OPERATOR_NAMESPACE, OPERATOR_PODS, LocalCluster
from tests.harness.leaks import plaintext
from tests.harness.ports import wait_until
from tests.integration.test_wrappedsecret import item, make_token, tombstone
from tests.objects import TENANT_KEYS, wrap_store, wrapped_secret

NAMESPACE = "e2e-wrapped"


def unwrap_while_operator_dies(cluster: LocalCluster, wrap_table: str, name: str,
                               kill: Callable[[dict[str, object]], None]) -> None:
    assert cluster.aws_proxy is not None
    value = plaintext(f"e2e-wrapped-{name}")
    token = make_token(wrap_table, value)
    cluster.kubectl("create", "secret", "generic", f"{name}-token", "-n", NAMESPACE, f"--from-literal=token={token}")
    [operator] = cluster.pods(OPERATOR_NAMESPACE, OPERATOR_PODS)
    cluster.aws_proxy.hold(wrap_table)
    try:
        cluster.apply(wrapped_secret(name, "wrap", tokenSecretRef={"name": f"{name}-token"},
                                     target={"name": name}), namespace=NAMESPACE)
        wait_until(lambda: cluster.aws_proxy is not None and cluster.aws_proxy.held > 0, 60,
                   "the operator's first call for the token")
        cluster.keep_operator_logs()
        kill(operator)
    finally:
        cluster.aws_proxy.release()  # the held call reaches AWS after its caller died
    cluster.wait(f"wrappedsecret/{name}", "condition=Ready", NAMESPACE, timeout=180)
    secret = json.loads(cluster.kubectl("get", "secret", "-n", NAMESPACE, name, "-o", "json"))
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {"value": value}
    assert item(wrap_table, token) is None
    uid = json.loads(cluster.kubectl("get", "wrappedsecret", "-n", NAMESPACE, name, "-o", "json"))["metadata"]["uid"]
    assert tombstone(wrap_table, token)["consumed_by"]["S"] == uid  # type: ignore[index]
    status = json.loads(cluster.kubectl("get", "wrappedsecret", "-n", NAMESPACE, name, "-o", "json"))["status"]
    assert status["tokenSHA256Prefix"] == token_sha256(token)[:16]


def test_a_wrapped_secret_survives_the_operator_container_sigkilled_by_the_runtime_and_its_pod_deleted(
        operator_release: LocalCluster, wrap_table: str) -> None:
    cluster = operator_release
    cluster.kubectl("create", "namespace", NAMESPACE)
    cluster.kubectl("create", "secret", "generic", TENANT_KEYS, "-n", NAMESPACE,
                    "--from-literal=access-key-id=AKIDTENANT", "--from-literal=secret-access-key=tenant-secret-key")
    cluster.apply(wrap_store("wrap", wrap_table), namespace=NAMESPACE)

    def sigkill_container(pod: dict[str, object]) -> None:
        container_id = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]  # type: ignore[index]
        node = cluster.node(pod["spec"]["nodeName"])  # type: ignore[index]
        node.ctr("tasks", "kill", "--signal", "SIGKILL", container_id, check=True)

    unwrap_while_operator_dies(cluster, wrap_table, "killed", sigkill_container)

    def restarted() -> bool:  # the kubelet restarted it, in the same pod
        [pod] = cluster.pods(OPERATOR_NAMESPACE, OPERATOR_PODS)
        return pod["status"]["containerStatuses"][0]["restartCount"] >= 1  # type: ignore[index,no-any-return]

    # The kubelet reports the restart in the pod's status on its own schedule, which can come after the
    # restarted operator has already unwrapped the token.
    wait_until(restarted, 60, "the operator pod's restartCount")
    [same_pod] = cluster.pods(OPERATOR_NAMESPACE, OPERATOR_PODS)

    def delete_pod(pod: dict[str, object]) -> None:
        cluster.kubectl("delete", "pod", "-n", OPERATOR_NAMESPACE, pod["metadata"]["name"],  # type: ignore[index]
                        "--wait=false")

    unwrap_while_operator_dies(cluster, wrap_table, "deleted", delete_pod)
    [replacement] = cluster.pods(OPERATOR_NAMESPACE, OPERATOR_PODS)
    assert replacement["metadata"]["name"] != same_pod["metadata"]["name"]
