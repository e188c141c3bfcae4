"""The SyncedSecret spec's schema as the API server serves it: its defaults say what a SyncedSecret made
from a spec holds once the server has stored it, so a ClusterSyncedSecret can tell its copy as it
wrote it from one a tenant added fields to (clustersyncedsecret.py)."""

from __future__ import annotations

import logging
import time
from typing import Any

from kubernetes_asyncio import client

from stashsync.api import GROUP, VERSION
from stashsync.kube.client import api_error

SCHEMA_SECONDS = 300.0  # the SyncedSecret CRD's schema is read again this often (an upgrade may change it)
SYNCED_CRD = f"syncedsecrets.{GROUP}"
logger = logging.getLogger(__name__)


class ChildSchema:
    """The SyncedSecret spec's schema as the API server serves it, read at most every SCHEMA_SECONDS:
    its defaults say what a SyncedSecret made from a spec holds once the server has stored it."""

    def __init__(self) -> None:
        self._schema: dict[str, Any] | None = None
        self._read_at = -SCHEMA_SECONDS

    async def get(self, api: client.ApiClient) -> dict[str, Any] | None:
        """None when it cannot be read (then a copy is only checked to contain the spec)."""
        if time.monotonic() - self._read_at < SCHEMA_SECONDS:
            return self._schema
        self._read_at = time.monotonic()
        try:
            listed = await api.call_api(
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "GET",
                query_params=[("fieldSelector", f"metadata.name={SYNCED_CRD}")], header_params={
                    "Accept": "application/json"}, auth_settings=["BearerToken"], response_types_map={200: "object"},
                _return_http_data_only=True)
        except client.ApiException as exc:
            logger.warning("cannot read the %s schema (%s): copies are only checked to contain their spec",
                           SYNCED_CRD, api_error(exc).message)
            return self._schema
        for crd in listed.get("items") or []:
            for version in crd["spec"].get("versions") or []:
                if version.get("name") == VERSION:
                    self._schema = (((version.get("schema") or {}).get("openAPIV3Schema") or {}).get("properties")
                                    or {}).get("spec")
        return self._schema


