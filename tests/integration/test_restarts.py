"""Restarts mid-run: the operator SIGKILLed at random moments while 100 wrap tokens and 100
rotations are in flight, and kube-apiserver killed and restarted under a running operator.
Nothing is lost, nothing is unwrapped twice, every object converges."""

from __future__ import annotations

import base64
import json
import os
import random
import time
from pathlib import Path

import boto3
import pytest

from stashsync.api import API_VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.crypto.wrap import token_sha256
from stashsync.kube.rollout import RESTART_ANNOTATION
from stashsync.sources.credstash import CredstashSource
from stashsync.sources.wrap import TOMBSTONE_PK
from tests.harness.controlplane import ControlPlane
from tests.harness.kube import Kube, ready_condition, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready
from tests.integration.test_wrappedsecret import make_token
from tests.objects import credstash_store, synced_secret, wrap_store, wrapped_secret

pytestmark = pytest.mark.integration

N = 100


def _not_ready(kube: Kube, namespace: str, kind: str, reason: str) -> list[str]:
    """The objects not yet at `reason`, each with its condition and kopf's progress annotations,
    so that a timeout says where each stuck object stands."""
    items = kube.resource(API_VERSION, kind).get(namespace=namespace).to_dict()["items"]
    stuck = []
    for item in items:
        if (ready_condition(item) or {}).get("reason") != reason:
            annotations = item["metadata"].get("annotations") or {}
            ours = {k: v for k, v in annotations.items() if k.startswith("stashsync.dev/")}
            stuck.append(f"{item['metadata']['name']}: {ready_condition(item)!r} {ours!r}")
    return stuck if len(items) >= N else [f"only {len(items)} of {N} {kind}s", *stuck]


def _wait_all_ready(kube: Kube, namespace: str, kind: str, reason: str, log: Path) -> None:
    try:
        wait_for(lambda: not _not_ready(kube, namespace, kind, reason), 240, f"every {kind} at {reason}")
    except AssertionError as exc:
        stuck = _not_ready(kube, namespace, kind, reason)
        names = {f'"name": "{line.split(":")[0]}"' for line in stuck}
        lines = [line for line in log.read_text(errors="replace").splitlines()
                 if namespace in line and any(n in line for n in names)]
        raise AssertionError("\n".join([str(exc), *stuck[:20], "operator log:", *lines[-60:]])) from None


def test_random_sigkills_lose_no_token_unwrap_none_twice_and_miss_no_rotation(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, wrap_table: str) -> None:
    seed = int(os.environ.get("STASHSYNC_CHAOS_SEED", str(random.SystemRandom().randrange(1 << 30))))
    rng = random.Random(seed)
    print(f"chaos seed {seed} (STASHSYNC_CHAOS_SEED={seed} repeats this run)")
    source = CredstashSource(AwsClients(AwsAuth(region="us-east-1")), table=table)
    for i in range(N):
        source.put(f"rot.{i}", plaintext(f"chaos-v1-{i}").encode(), 1, {})
    tokens = [make_token(wrap_table, plaintext(f"chaos-token-value-{i}")) for i in range(N)]
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(wrap_store("wrap", wrap_table), namespace)

    operator.stop()
    chaos = OperatorProcess(operator.folder.parent / "operator-chaos", operator.kubeconfig, operator.aws_env,
                            operator.namespace)
    kills = 0
    try:
        chaos.start()
        for i in range(N):
            kube.apply(synced_secret(f"s{i}", "main", [{"key": "v", "name": f"rot.{i}"}], refreshInterval="2s"),
                       namespace)
            kube.apply(wrapped_secret(f"w{i}", "wrap", tokens[i]), namespace)
            if i % 25 == 24:  # killed while objects are still arriving
                chaos.process.kill()  # type: ignore[union-attr]
                kills += 1
                chaos.start()
        for i in range(N):  # 100 rotations, in flight during the next kills
            source.put(f"rot.{i}", plaintext(f"chaos-v2-{i}").encode(), 2, {})
        for _ in range(3):
            time.sleep(rng.uniform(0.2, 3.0))
            chaos.process.kill()  # type: ignore[union-attr]
            kills += 1
            chaos.start()
        _wait_all_ready(kube, namespace, "WrappedSecret", "Unwrapped", chaos.log)
        wait_for(lambda: all((kube.secret_data(namespace, f"s{i}") or {}).get("v") == f"chaos-v2-{i}"
                             for i in range(N)), 240, "all rotations synced")
    finally:
        chaos.stop()
        operator.start()
    assert kills == 7

    # Each token's value is in exactly one Secret: its own.
    held: dict[str, list[str]] = {}
    for secret in kube.core.list_namespaced_secret(namespace).items:
        for value in (secret.data or {}).values():
            held.setdefault(base64.b64decode(value).decode(errors="replace"), []).append(secret.metadata.name)
    for i in range(N):
        assert held.get(f"chaos-token-value-{i}") == [f"w{i}"], (i, held.get(f"chaos-token-value-{i}"))
    # Unwrapped once: the wrap table holds no token any more, only one tombstone per token, each naming
    # the WrappedSecret that consumed it.
    ddb = boto3.client("dynamodb")
    left = ddb.query(TableName=wrap_table, KeyConditionExpression="pk = :p", ConsistentRead=True,
                     ExpressionAttributeValues={":p": {"S": "WRAPPED_SECRET"}})["Count"]
    assert left == 0
    for i in range(N):
        stone = ddb.get_item(TableName=wrap_table, ConsistentRead=True, Key={
            "pk": {"S": TOMBSTONE_PK}, "sk": {"S": token_sha256(tokens[i])}})["Item"]
        uid = kube.read(API_VERSION, "WrappedSecret", f"w{i}", namespace)["metadata"]["uid"]
        assert stone["consumed_by"]["S"] == uid
    for i in range(N):
        kube.resource(API_VERSION, "WrappedSecret").delete(name=f"w{i}", namespace=namespace)


def test_kube_apiserver_restart_under_a_running_operator(
        kube: Kube, operator: OperatorProcess, control_plane: ControlPlane, namespace: str, table: str,
        wrap_table: str) -> None:
    source = CredstashSource(AwsClients(AwsAuth(region="us-east-1")), table=table)
    source.put("db.password", plaintext("restart-v1").encode(), 1, {})
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "registry.invalid/app",
                                     "envFrom": [{"secretRef": {"name": "app"}}]}]}}}})
    kube.apply(synced_secret("app", "main", [{"key": "password", "name": "db.password"}], refreshInterval="1s",
                             rolloutRestartTargets=[{"kind": "Deployment", "name": "web"}]), namespace)
    wait_ready(kube, namespace, "app")
    generation = kube.apps.read_namespaced_deployment("web", namespace).metadata.generation

    # The source changes while the apiserver is down: the operator can neither write nor report.
    control_plane.restart_apiserver(down_seconds=0.1)  # a first blip
    source.put("db.password", plaintext("restart-v2").encode(), 2, {})
    assert control_plane.apiserver is not None
    control_plane.apiserver.kill()
    time.sleep(5)
    control_plane.restart_apiserver()
    assert operator.process is not None and operator.process.alive()

    wait_for(lambda: kube.secret_data(namespace, "app") == {"password": "restart-v2"}, 90, "rotation after restart")
    token = make_token(wrap_table, plaintext("restart-token-value"))
    kube.apply(wrapped_secret("after", "wrap", token), namespace)  # new objects are still seen
    wait_ready(kube, namespace, "after", kind="WrappedSecret", reason="Unwrapped", timeout=90)
    assert kube.secret_data(namespace, "after") == {"value": "restart-token-value"}
    web = wait_for(lambda: (d := kube.apps.read_namespaced_deployment("web", namespace)).metadata.generation
                   > generation and d, 30, "restart patch")
    time.sleep(3)  # more refreshes: no further restart for the same content
    web = kube.apps.read_namespaced_deployment("web", namespace)
    assert web.metadata.generation == generation + 1
    assert (web.spec.template.metadata.annotations or {}).get(RESTART_ANNOTATION)
    # The restarted apiserver's 429 "storage is (re)initializing" answers are waits, logged as such.
    waits = [json.loads(line) for line in operator.log.read_text(errors="replace").splitlines()
             if "storage is (re)initializing" in line and line.startswith("{")]
    assert all(w["severity"] == "info" for w in waits), [w["message"][:120] for w in waits if w["severity"] != "info"]
