"""What tests create: custom resource bodies, tenant namespaces, credstash tables. Plain functions,
so tests, the e2e suite and the benchmarks build the same objects."""

from __future__ import annotations

import uuid
from typing import Any

from stashsync.api import API_VERSION
from tests.harness.kube import Kube

TENANT_KEYS = "tenant-aws-keys"
TENANT_AUTH = {"secretRef": {"name": TENANT_KEYS}}


def tenant_namespace(kube: Kube, name: str) -> str:
    """A namespace as a tenant has it: with its own AWS keys in a Secret (moto takes any keys), which
    its CredentialStores name, since only cluster stores may use the operator's own identity."""
    kube.create_namespace(name)
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": TENANT_KEYS},
                "stringData": {"access-key-id": "AKIDTENANT", "secret-access-key": "tenant-secret-key"}}, name)
    return name


def new_credstash_table(region: str) -> str:
    """Create a credstash table with a fresh name (on the moto the environment points at)."""
    from stashsync.aws.clients import AwsAuth, AwsClients
    from stashsync.sources.credstash import CredstashSource

    name = f"creds-{uuid.uuid4().hex[:10]}"
    CredstashSource(AwsClients(AwsAuth(region=region)), table=name).create_table()
    return name


def credstash_store(name: str, table: str, region: str = "us-east-1") -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": name},
            "spec": {"credstash": {"table": table, "region": region}, "auth": TENANT_AUTH}}


def cluster_credstash_store(name: str, table: str, region: str = "us-east-1") -> dict[str, Any]:
    """The admin's store: cluster-scoped, on the operator's own identity."""
    return {"apiVersion": API_VERSION, "kind": "ClusterCredentialStore", "metadata": {"name": name},
            "spec": {"credstash": {"table": table, "region": region}}}


def wrap_store(name: str, table: str, region: str = "us-east-1") -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": name},
            "spec": {"wrap": {"table": table, "region": region, "mode": "direct", "kmsKeyId": "alias/wrap-service"},
                     "auth": TENANT_AUTH}}


def wrapped_secret(name: str, store: str, token: str | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"storeRef": {"name": store}, **spec}
    if token is not None:
        body["token"] = token
    return {"apiVersion": API_VERSION, "kind": "WrappedSecret", "metadata": {"name": name}, "spec": body}


def synced_secret(name: str, store: str, data: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "SyncedSecret", "metadata": {"name": name},
            "spec": {"storeRef": {"name": store}, "data": data, **spec}}


def cluster_synced_secret(name: str, store: str, data: list[dict[str, Any]], selector: dict[str, str] | None = None,
                          namespaces: list[str] | None = None, child_name: str | None = None,
                          **spec: Any) -> dict[str, Any]:
    """A SyncedSecret spec (`data` and `spec`) reading a ClusterCredentialStore, kept in the namespaces
    selected by labels (`selector`: matchLabels) and/or by name, under `child_name` (default: `name`)."""
    body: dict[str, Any] = {"syncedSecretSpec": {"storeRef": {"name": store, "kind": "ClusterCredentialStore"},
                                                 "data": data, **spec}}
    if child_name is not None:
        body["syncedSecretName"] = child_name
    if selector is not None:
        body["namespaceSelector"] = {"matchLabels": selector}
    if namespaces is not None:
        body["namespaces"] = namespaces
    return {"apiVersion": API_VERSION, "kind": "ClusterSyncedSecret", "metadata": {"name": name}, "spec": body}
