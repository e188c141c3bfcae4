"""Scenario 4: spec.encryption.kms with `stashsync exec` as the app's entrypoint inside a pod: the app
sees plaintext; the Secret, the pod spec and the container's runtime spec hold only ciphertext."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3

from tests.e2e.helpers import app_deployment, cluster_store_ref, namespace_with_store, stashsync
from tests.harness.cluster import LocalCluster
from tests.harness.leaks import plaintext
from tests.harness.ports import wait_until
from tests.objects import synced_secret

NAMESPACE = "e2e-encrypted"
APP = 'echo "app sees $DB_PASSWORD"; exec sleep 3600'


def test_the_app_sees_plaintext_through_stashsync_exec_while_the_secret_and_pod_hold_ciphertext(
        operator_release: LocalCluster, aws_env: dict[str, str], table: str) -> None:
    cluster = operator_release
    value = plaintext("e2e-encrypted-password")
    kms = boto3.client("kms")
    kms.create_alias(AliasName="alias/e2e-app-secrets", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    stashsync("put", "-t", table, "app.db.password", value, env=aws_env)
    store = namespace_with_store(cluster, NAMESPACE, table)
    ssec = synced_secret("app-enc", store, [{"key": "DB_PASSWORD", "name": "app.db.password"}],
                         target={"name": "app-enc"}, encryption={"kms": {"keyId": "alias/e2e-app-secrets"}})
    ssec["spec"]["storeRef"] = cluster_store_ref(store)
    cluster.apply(ssec, namespace=NAMESPACE)
    cluster.wait("syncedsecret/app-enc", "condition=Ready", NAMESPACE)

    secret = json.loads(cluster.kubectl("get", "secret", "-n", NAMESPACE, "app-enc", "-o", "json"))
    envelope = base64.b64decode(secret["data"]["DB_PASSWORD"]).decode()
    assert envelope.startswith("stashsync:v1:") and value not in envelope

    # The app's identity may decrypt (moto's keys); the pod names its namespace for the context.
    env: list[dict[str, Any]] = [{"name": "POD_NAMESPACE",
                                  "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]
    env += [{"name": k, "value": v} for k, v in aws_env.items()]
    app = app_deployment("enc", ["stashsync", "exec", "--secret", "app-enc", "--", "sh", "-c", APP], env)
    app["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "app-enc"}}]
    cluster.apply(app, namespace=NAMESPACE)
    cluster.kubectl("rollout", "status", "-n", NAMESPACE, "deployment/enc", "--timeout=120s")

    [pod] = cluster.pods(NAMESPACE, "app=enc")
    name = pod["metadata"]["name"]
    wait_until(lambda: cluster.kubectl("logs", "-n", NAMESPACE, name).strip() == f"app sees {value}", 60,
               "the app printing the plaintext")
    assert value not in json.dumps(pod)
    # What the runtime started the container with: the envelope, never the plaintext.
    container_id = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    node = cluster.node(pod["spec"]["nodeName"])
    runtime_spec = node.ctr("containers", "info", container_id, check=True).stdout
    assert f"DB_PASSWORD={envelope}" in runtime_spec
    assert value not in runtime_spec
