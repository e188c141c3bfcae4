"""Session fixtures: a real kube-apiserver + etcd, moto_server, and the operator under kopf.

They start lazily: a run of unit tests alone starts nothing."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from stashsync.api import GROUP, VERSION
from tests.harness.binaries import find_binaries
from tests.harness.controlplane import ControlPlane
from tests.harness.kube import Kube
from tests.harness.leaks import LEAK_CANARIES, leaks_in, plaintext
from tests.harness.moto import MotoServer
from tests.harness.operator_process import OperatorProcess
from tests.objects import credstash_store, new_credstash_table, synced_secret, tenant_namespace

OPERATOR_NAMESPACE = "stashsync-system"


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stashsync")


@pytest.fixture(scope="session")
def control_plane(workdir: Path) -> Iterator[ControlPlane]:
    plane = ControlPlane(workdir / "controlplane", find_binaries())
    try:
        yield plane.start()
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def moto(workdir: Path) -> Iterator[MotoServer]:
    server = MotoServer(workdir / "moto")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def aws_env(moto: MotoServer) -> Iterator[dict[str, str]]:
    """Point this test process's boto3 (and the CLI it runs in-process) at moto."""
    saved = {k: os.environ.get(k) for k in moto.env()}
    os.environ.update(moto.env())
    yield moto.env()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def kms_key(aws_env: dict[str, str]) -> str:
    """The credstash default key, alias/credstash."""
    kms = boto3.client("kms")
    key_id: str = kms.create_key(Description="stashsync tests")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/credstash", TargetKeyId=key_id)
    return key_id


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> Kube:
    assert control_plane.kubeconfig is not None
    k = Kube(control_plane.kubeconfig)
    k.install_crds()
    k.create_namespace(OPERATOR_NAMESPACE)
    return k


@pytest.fixture(scope="session")
def operator(kube: Kube, control_plane: ControlPlane, aws_env: dict[str, str], kms_key: str,
             workdir: Path) -> Iterator[OperatorProcess]:
    assert control_plane.kubeconfig is not None
    # Restarts coalesce over 1 s here (10 s by default), so rotation tests do not wait for the window.
    process = OperatorProcess(workdir / "operator", control_plane.kubeconfig, aws_env, OPERATOR_NAMESPACE,
                              extra_env={"STASHSYNC_RESTART_WINDOW": "1"})
    try:
        yield process.start()
        assert_no_plaintext_leaked(kube, process, aws_env)  # after the session's last test
    finally:
        process.stop()


CUSTOM_PLURALS = ["syncedsecrets", "wrappedsecrets", "credentialstores", "clustercredentialstores",
                  "clustersyncedsecrets"]


def assert_no_plaintext_leaked(kube: Kube, operator: OperatorProcess, aws_env: dict[str, str]) -> None:
    """No plaintext any test used (tests mark them with plaintext()) appears in the operator's logs,
    in any Event, in any status, or in any annotation or label. One canary is synced here, so the
    check has something to find even when a single test ran."""
    from stashsync.cli.main import main as cli
    from tests.integration.helpers import wait_ready

    table = new_credstash_table(aws_env["AWS_DEFAULT_REGION"])
    assert cli(["put", "-t", table, "leak.canary", plaintext("leak-canary-3f9a1c")]) == 0
    namespace = tenant_namespace(kube, f"t-leaks-{uuid.uuid4().hex[:6]}")
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("canary", "main", [{"key": "k", "name": "leak.canary"}]), namespace)
    wait_ready(kube, namespace, "canary")

    # Every operator process of the session: the shared one and those the crash tests killed.
    haystacks = {str(log): log.read_text(errors="replace")
                 for log in sorted(operator.log.parent.parent.glob("operator*/operator.log"))}
    events = kube.core.list_event_for_all_namespaces().items
    haystacks["events"] = "\n".join(f"{e.reason} {e.message}" for e in events)
    for plural in CUSTOM_PLURALS:
        objects = kube.custom.list_cluster_custom_object(GROUP, VERSION, plural)["items"]
        haystacks[f"{plural} status+metadata"] = json.dumps(
            [{"status": o.get("status"), "metadata": o.get("metadata")} for o in objects])
    secrets = kube.core.list_secret_for_all_namespaces().items
    haystacks["secret annotations+labels"] = json.dumps(
        [{"a": s.metadata.annotations, "l": s.metadata.labels} for s in secrets])
    assert events and "leak-canary-3f9a1c" in LEAK_CANARIES
    assert leaks_in(haystacks) == []


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A fresh tenant namespace per test. Its SyncedSecrets are deleted afterwards so their refresh
    loops stop; the namespace stays (a bare apiserver cannot finalize namespaces)."""
    name = tenant_namespace(kube, f"t-{uuid.uuid4().hex[:10]}")
    yield name
    for item in kube.custom.list_namespaced_custom_object(GROUP, VERSION, name, "syncedsecrets")["items"]:
        if not item["metadata"].get("deletionTimestamp"):  # one the test deleted may be gone by now
            kube.custom.delete_namespaced_custom_object(GROUP, VERSION, name, "syncedsecrets",
                                                        item["metadata"]["name"])


@pytest.fixture
def victim(kube: Kube) -> Iterator[str]:
    """Another tenant's namespace, beside `namespace` (the hostile one)."""
    name = tenant_namespace(kube, f"t-victim-{uuid.uuid4().hex[:8]}")
    yield name
    for item in kube.custom.list_namespaced_custom_object(GROUP, VERSION, name, "syncedsecrets")["items"]:
        if not item["metadata"].get("deletionTimestamp"):
            kube.custom.delete_namespaced_custom_object(GROUP, VERSION, name, "syncedsecrets",
                                                        item["metadata"]["name"])


@pytest.fixture
def table(aws_env: dict[str, str], kms_key: str) -> str:
    """A fresh credstash table per test."""
    return new_credstash_table(aws_env["AWS_DEFAULT_REGION"])


@pytest.fixture(scope="session")
def wrap_keys(aws_env: dict[str, str]) -> tuple[str, str]:
    """(client key alias, service key alias), as awswrap names them by default."""
    kms = boto3.client("kms")
    aliases = ("alias/wrap-client", "alias/wrap-service")
    for alias in aliases:
        key_id = kms.create_key(Description=alias)["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return aliases


@pytest.fixture
def wrap_table(aws_env: dict[str, str], wrap_keys: tuple[str, str]) -> str:
    """A fresh aws-secrets-wrapper table (pk, sk)."""
    name = f"wrap-{uuid.uuid4().hex[:10]}"
    ddb = boto3.client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}])
    return name
