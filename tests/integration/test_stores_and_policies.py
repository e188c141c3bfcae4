"""Cluster stores, store auth, size limits and the Orphan/Retain policies."""

from __future__ import annotations

import time

import pytest

from stashsync.api import API_VERSION, GROUP
from stashsync.cli.main import main as cli
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready
from tests.objects import cluster_credstash_store, credstash_store, synced_secret

pytestmark = pytest.mark.integration

FINALIZER = f"{GROUP}/finalizer"


def test_cluster_store_serves_any_namespace(kube: Kube, operator: OperatorProcess, namespace: str,
                                            table: str) -> None:
    assert cli(["put", "-t", table, "shared.key", plaintext("cluster-store-value")]) == 0
    kube.apply(cluster_credstash_store(f"shared-{namespace}", table))
    wait_ready(kube, None, f"shared-{namespace}", kind="ClusterCredentialStore")  # type: ignore[arg-type]
    ssec = synced_secret("app", f"shared-{namespace}", [{"key": "k", "name": "shared.key"}])
    ssec["spec"]["storeRef"]["kind"] = "ClusterCredentialStore"
    kube.apply(ssec, namespace)
    wait_ready(kube, namespace, "app")
    assert kube.secret_data(namespace, "app") == {"k": "cluster-store-value"}


def test_static_keys_from_a_secret_and_a_missing_auth_secret(kube: Kube, operator: OperatorProcess,
                                                             namespace: str, table: str) -> None:
    assert cli(["put", "-t", table, "auth.key", plaintext("static-keys-value")]) == 0
    store = credstash_store("keys", table)
    store["spec"]["auth"] = {"secretRef": {"name": "aws-keys"}}
    kube.apply(store, namespace)
    wait_ready(kube, namespace, "keys", status="False", reason="AccessDenied", kind="CredentialStore")
    kube.core.create_namespaced_secret(namespace, {"metadata": {"name": "aws-keys"}, "stringData": {
        "access-key-id": "AKIDSTATICTEST", "secret-access-key": "static-secret-key"}})
    # No spec change needed: a store that is not Ready is checked again within seconds.
    wait_ready(kube, namespace, "keys", kind="CredentialStore", timeout=45)
    kube.apply(synced_secret("app", "keys", [{"key": "k", "name": "auth.key"}]), namespace)
    wait_ready(kube, namespace, "app")
    assert kube.secret_data(namespace, "app") == {"k": "static-keys-value"}


def test_assumed_role_session_is_reused_across_refreshes(kube: Kube, operator: OperatorProcess, namespace: str,
                                                         table: str) -> None:
    assert cli(["put", "-t", table, "role.key", plaintext("assume-role-value")]) == 0
    store = credstash_store("role", table)
    store["spec"]["auth"] = {"roleArn": "arn:aws:iam::123456789012:role/stashsync-reader", "externalId": "ext-1"}
    kube.apply(store, namespace)
    wait_ready(kube, namespace, "role", kind="CredentialStore")
    before = operator.metric("stashsync_aws_calls_total", service="sts", operation="AssumeRole")
    kube.apply(synced_secret("app", "role", [{"key": "k", "name": "role.key"}], refreshInterval="1s"), namespace)
    wait_ready(kube, namespace, "app")
    assert kube.secret_data(namespace, "app") == {"k": "assume-role-value"}
    time.sleep(4)  # several refreshes
    assert operator.metric("stashsync_aws_calls_total", service="sts", operation="AssumeRole") - before <= 1


def test_secret_over_one_mebibyte_is_too_large_and_not_written(kube: Kube, operator: OperatorProcess,
                                                               namespace: str, table: str) -> None:
    # A DynamoDB item holds at most 400 KB, so only several credentials together can pass 1 MiB.
    big = "x" * 290_000
    for i in range(4):
        assert cli(["put", "-t", table, f"big.{i}", big]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": f"b{i}", "name": f"big.{i}"} for i in range(4)]), namespace)
    condition = wait_ready(kube, namespace, "app", status="False", reason="TooLarge")
    assert "1048576" in condition["message"]
    assert kube.secret_data(namespace, "app") is None


@pytest.mark.parametrize(("creation", "deletion"), [("Orphan", "Delete"), ("Owner", "Retain")])
def test_orphan_and_retain_keep_the_secret_without_our_owner_reference(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, creation: str, deletion: str) -> None:
    assert cli(["put", "-t", table, "kept.key", plaintext(f"kept-{creation}")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": "k", "name": "kept.key"}],
                             target={"creationPolicy": creation, "deletionPolicy": deletion}), namespace)
    wait_ready(kube, namespace, "app")
    owners = kube.core.read_namespaced_secret("app", namespace).metadata.owner_references
    assert bool(owners) is (creation == "Owner")
    assert kube.read(API_VERSION, "SyncedSecret", "app", namespace)["metadata"]["finalizers"] == [FINALIZER]
    kube.resource(API_VERSION, "SyncedSecret").delete(name="app", namespace=namespace)
    wait_for(lambda: kube.get(API_VERSION, "SyncedSecret", "app", namespace) is None, 30, "SyncedSecret gone")
    secret = kube.core.read_namespaced_secret("app", namespace)
    assert not secret.metadata.owner_references
    assert kube.secret_data(namespace, "app") == {"k": f"kept-{creation}"}


def test_a_policy_changed_to_retain_takes_the_finalizer_and_keeps_the_secret(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    assert cli(["put", "-t", table, "later.key", plaintext("retained-later")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    body = synced_secret("app", "main", [{"key": "k", "name": "later.key"}])
    kube.apply(body, namespace)
    wait_ready(kube, namespace, "app")
    assert not kube.read(API_VERSION, "SyncedSecret", "app", namespace)["metadata"].get("finalizers")
    body["spec"]["target"] = {"deletionPolicy": "Retain"}
    kube.apply(body, namespace)
    wait_for(lambda: (kube.read(API_VERSION, "SyncedSecret", "app", namespace)["metadata"].get("finalizers")
                      == [FINALIZER]), 30, "the finalizer added")
    kube.resource(API_VERSION, "SyncedSecret").delete(name="app", namespace=namespace)
    wait_for(lambda: kube.get(API_VERSION, "SyncedSecret", "app", namespace) is None, 30, "SyncedSecret gone")
    secret = kube.core.read_namespaced_secret("app", namespace)
    assert not secret.metadata.owner_references
    assert kube.secret_data(namespace, "app") == {"k": "retained-later"}
