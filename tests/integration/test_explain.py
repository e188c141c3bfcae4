"""What `kubectl explain` shows for the fields added for ESO and VSO users: it reads the apiserver's
OpenAPI v3 document for our group, so the descriptions must arrive there."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.harness.kube import Kube, wait_for

pytestmark = pytest.mark.integration

FIELDS = {
    "SyncedSecret": ["spec.refreshPolicy", "spec.target.immutable", "spec.target.template.templateFrom",
                     "spec.target.template.templateFrom[].configMap", "spec.target.template.templateFrom[].as",
                     "status.nextSyncTime", "status.pendingRolloutMAC", "status.templateVersions"],
    "ClusterSyncedSecret": ["spec.namespaceSelector", "spec.namespaces", "spec.syncedSecretName",
                            "spec.syncedSecretMetadata", "spec.syncedSecretSpec", "spec.syncedSecretSpec.refreshPolicy",
                            "status.failedNamespaces", "status.failedNamespaces[].reason", "status.namespaces"],
}


def field(schemas: dict[str, Any], schema: dict[str, Any], path: str) -> dict[str, Any]:
    for part in path.split("."):
        many = part.endswith("[]")
        schema = schema["properties"][part.removesuffix("[]")]
        schema = schemas[schema["allOf"][0]["$ref"].rsplit("/", 1)[1]] if "allOf" in schema else schema
        if many:
            schema = schema["items"]
    return schema


def openapi(kube: Kube) -> dict[str, Any] | None:
    """The group's OpenAPI v3 document, once the apiserver publishes it for every CRD (seconds after install)."""
    try:
        document = kube.api_client.call_api("/openapi/v3/apis/stashsync.dev/v1alpha1", "GET",
                                            response_type="object", auth_settings=["BearerToken"],
                                            _return_http_data_only=True)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas if all(f"dev.stashsync.v1alpha1.{kind}" in schemas for kind in FIELDS) else None


def test_kubectl_explain_describes_every_new_field(kube: Kube) -> None:
    schemas = wait_for(lambda: openapi(kube), 60, "the OpenAPI v3 document of stashsync.dev/v1alpha1")
    for kind, paths in FIELDS.items():
        root = schemas[f"dev.stashsync.v1alpha1.{kind}"]
        for path in paths:
            assert field(schemas, root, path).get("description"), f"{kind}.{path} has no description"
