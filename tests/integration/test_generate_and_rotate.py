"""Generated credentials that rotate, and scheduled re-encryption that does not restart anything."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stashsync.api import API_VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.sources.credstash import CredstashSource
from tests.harness import real_tools
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import LEAK_CANARIES
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration
STASHSYNC = str(Path(sys.executable).parent / "stashsync")


def _deployment(kube: Kube, namespace: str, secret: str) -> None:
    """A Deployment whose pods take their environment from `secret` (so its rotations restart it)."""
    container = {"name": "a", "image": "x.invalid/a", "envFrom": [{"secretRef": {"name": secret}}]}
    kube.apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}}}})


def _generation(kube: Kube, namespace: str) -> int:
    return int(kube.apps.read_namespaced_deployment("web", namespace).metadata.generation)


def test_generated_credential_is_stored_rotated_pruned_and_readable_by_credstash(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, aws_env: dict[str, str]) -> None:
    tools = real_tools.tools_venv()  # before the clock starts: building it can take longer than a rotation
    _deployment(kube, namespace, "gen")
    store = credstash_store("main", table)
    store["spec"]["credstash"]["allowGenerate"] = True
    kube.apply(store, namespace)
    kube.apply(synced_secret("gen", "main", [{"key": "password", "name": "gen.password", "context": {"app": "gen"},
                                              "generate": {"length": 24, "rotateEvery": "5s", "keep": 2}}],
                             rolloutRestartTargets=[{"name": "web"}]), namespace)
    wait_ready(kube, namespace, "gen")
    assert _generation(kube, namespace) == 1  # the first value restarts nothing (checked before any rotation)
    first = (kube.secret_data(namespace, "gen") or {})["password"]
    version = kube.read(API_VERSION, "SyncedSecret", "gen", namespace)["status"]["syncedVersions"]["password"]
    LEAK_CANARIES.add(first)
    assert len(first) == 24 and first.isalnum()
    env = {**os.environ, **aws_env}
    # The exact version the Secret holds: it survives one rotation (keep: 2), so this cannot race.
    assert real_tools.run(tools / "credstash", "-t", table, "get", "-v", version, "gen.password", "app=gen",
                          env=env).decode().strip() == first

    rotated = wait_for(lambda: (v := (kube.secret_data(namespace, "gen") or {}).get("password")) != first and v,
                       40, "a rotated value")
    LEAK_CANARIES.add(rotated)
    wait_for(lambda: _generation(kube, namespace) >= 2, 15, "restart after rotation")
    wait_for(lambda: len(CredstashSource(AwsClients(AwsAuth(region="us-east-1")), table=table)
                         .versions("gen.password")) == 2 and
             int(CredstashSource(AwsClients(AwsAuth(region="us-east-1")), table=table)
                 .versions("gen.password")[0]) >= 3, 40, "pruned to 2 versions after a second rotation")
    for value in (kube.secret_data(namespace, "gen") or {}).values():
        LEAK_CANARIES.add(value)
    status = kube.read(API_VERSION, "SyncedSecret", "gen", namespace)["status"]
    assert "password" in status["generatedAt"]


def test_scheduled_re_encryption_changes_ciphertext_but_neither_value_nor_workloads(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, aws_env: dict[str, str]) -> None:
    from stashsync.cli.main import main as cli
    from tests.harness.leaks import plaintext

    value = plaintext("rotated-envelope-value")
    assert cli(["put", "-t", table, "rot.key", value]) == 0
    _deployment(kube, namespace, "enc")
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("enc", "main", [{"key": "K", "name": "rot.key"}],
                             encryption={"kms": {"keyId": "alias/credstash"}, "rotateEvery": "2s"},
                             rolloutRestartTargets=[{"name": "web"}]), namespace)
    wait_ready(kube, namespace, "enc")
    first = (kube.secret_data(namespace, "enc") or {})["K"]
    second = wait_for(lambda: (v := (kube.secret_data(namespace, "enc") or {})["K"]) != first and v, 20,
                      "re-encrypted value")
    env = {**aws_env, "PATH": os.environ["PATH"], "POD_NAMESPACE": namespace}
    for text in (first, second):
        out = subprocess.run([STASHSYNC, "decrypt", "--secret", "enc", "--key", "K", text], capture_output=True,
                             env=env, check=True).stdout.decode().strip()
        assert out == value
    time.sleep(2)
    assert _generation(kube, namespace) == 1  # same plaintext: nothing restarted
