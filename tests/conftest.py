"""Session fixtures: a real kube-apiserver + etcd, moto_server, and the operator under kopf.

They start lazily: a run of unit tests alone starts nothing."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.harness.binaries import find_binaries
from tests.harness.controlplane import ControlPlane
from tests.harness.kube import Kube
from tests.harness.leaks import LEAK_CANARIES
from tests.harness.moto import MotoServer
from tests.harness.operator_process import OperatorProcess

OPERATOR_NAMESPACE = "stashsync-system"
API_GROUP, API_VERSION = "stashsync.dev", "v1alpha1"


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
    process = OperatorProcess(workdir / "operator", control_plane.kubeconfig, aws_env, OPERATOR_NAMESPACE)
    try:
        yield process.start()
    finally:
        process.stop()


TENANT_KEYS = "tenant-aws-keys"


def tenant_namespace(kube: Kube, name: str) -> str:
    """A namespace as a tenant has it: with its own AWS keys in a Secret (moto takes any keys), which
    its CredentialStores name, since only cluster stores may use the operator's own identity."""
    kube.create_namespace(name)
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": TENANT_KEYS},
                "stringData": {"access-key-id": "AKIDTENANT", "secret-access-key": "tenant-secret-key"}}, name)
    return name


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A fresh tenant namespace per test. Its SyncedSecrets are deleted afterwards so their refresh
    loops stop; the namespace stays (a bare apiserver cannot finalize namespaces)."""
    name = tenant_namespace(kube, f"t-{uuid.uuid4().hex[:10]}")
    yield name
    for item in kube.custom.list_namespaced_custom_object(API_GROUP, API_VERSION, name, "syncedsecrets")["items"]:
        kube.custom.delete_namespaced_custom_object(API_GROUP, API_VERSION, name, "syncedsecrets",
                                                    item["metadata"]["name"])


def new_credstash_table(region: str) -> str:
    """Create a credstash table with a fresh name (on the moto the environment points at)."""
    from stashsync.aws.clients import AwsAuth, AwsClients
    from stashsync.sources.credstash import CredstashSource

    name = f"creds-{uuid.uuid4().hex[:10]}"
    CredstashSource(AwsClients(AwsAuth(region=region)), table=name).create_table()
    return name


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


def plaintext(value: str) -> str:
    """Mark a value as secret: the leak test greps logs, events and statuses for it."""
    LEAK_CANARIES.add(value)
    return value


TENANT_AUTH = {"secretRef": {"name": TENANT_KEYS}}


def credstash_store(name: str, table: str, region: str = "us-east-1") -> dict[str, Any]:
    return {"apiVersion": "stashsync.dev/v1alpha1", "kind": "CredentialStore", "metadata": {"name": name},
            "spec": {"credstash": {"table": table, "region": region}, "auth": TENANT_AUTH}}


def cluster_credstash_store(name: str, table: str, region: str = "us-east-1") -> dict[str, Any]:
    """The admin's store: cluster-scoped, on the operator's own identity."""
    return {"apiVersion": "stashsync.dev/v1alpha1", "kind": "ClusterCredentialStore", "metadata": {"name": name},
            "spec": {"credstash": {"table": table, "region": region}}}


def wrap_store(name: str, table: str, region: str = "us-east-1") -> dict[str, Any]:
    return {"apiVersion": "stashsync.dev/v1alpha1", "kind": "CredentialStore", "metadata": {"name": name},
            "spec": {"wrap": {"table": table, "region": region, "mode": "direct", "kmsKeyId": "alias/wrap-service"},
                     "auth": TENANT_AUTH}}


def wrapped_secret(name: str, store: str, token: str | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"storeRef": {"name": store}, **spec}
    if token is not None:
        body["token"] = token
    return {"apiVersion": "stashsync.dev/v1alpha1", "kind": "WrappedSecret", "metadata": {"name": name}, "spec": body}


def synced_secret(name: str, store: str, data: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "stashsync.dev/v1alpha1", "kind": "SyncedSecret", "metadata": {"name": name},
            "spec": {"storeRef": {"name": store}, "data": data, **spec}}
