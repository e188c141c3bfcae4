"""ClusterSyncedSecret: one cluster-scoped object that keeps a SyncedSecret (same spec) in every
namespace it selects."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stashsync.api import API_VERSION
from stashsync.api.selectors import LabelSelector, parse_label_selector
from stashsync.api.syncedsecret import SyncedSecretSpec, parse_synced_secret
from stashsync.errors import SpecError

KIND = "ClusterSyncedSecret"
PLURAL = "clustersyncedsecrets"
# On each SyncedSecret it made: which ClusterSyncedSecret owns it (the owner reference's uid proves it).
PARENT_LABEL = "stashsync.dev/cluster-synced-secret"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class ClusterSyncedSecretSpec:
    namespaces: tuple[str, ...]
    selector: LabelSelector | None
    child_name: str
    child_labels: dict[str, str]
    child_annotations: dict[str, str]
    child_spec: dict[str, Any]  # the SyncedSecret spec, as written
    synced: SyncedSecretSpec  # the same, parsed (so a bad spec is refused here, once, not per namespace)
    uid: str = ""
    name: str = ""

    def selects(self, namespace: str, labels: dict[str, str]) -> bool:
        return namespace in self.namespaces or (self.selector is not None and self.selector.matches(labels))

    def child(self, namespace: str) -> dict[str, Any]:
        """The SyncedSecret this object keeps in `namespace`."""
        labels = {**self.child_labels, PARENT_LABEL: self.name}
        return {"apiVersion": API_VERSION, "kind": "SyncedSecret",
                "metadata": {"name": self.child_name, "namespace": namespace, "labels": labels,
                             "annotations": dict(self.child_annotations),
                             "ownerReferences": [{"apiVersion": API_VERSION, "kind": KIND, "name": self.name,
                                                  "uid": self.uid, "controller": True,
                                                  "blockOwnerDeletion": False}]},
                "spec": self.child_spec}


def parse_cluster_synced_secret(body: dict[str, Any]) -> ClusterSyncedSecretSpec:
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    namespaces = tuple(str(n) for n in spec.get("namespaces") or ())
    raw_selector = spec.get("namespaceSelector")
    selector = parse_label_selector(raw_selector) if raw_selector is not None else None
    if not namespaces and selector is None:
        raise SpecError("spec needs namespaces or a namespaceSelector")
    child_name = str(spec.get("syncedSecretName") or meta.get("name", ""))
    if not DNS_LABEL.match(child_name) or len(child_name) > 253:
        raise SpecError(f"syncedSecretName {child_name!r} is not a valid object name")
    child_meta = spec.get("syncedSecretMetadata") or {}
    labels = {str(k): str(v) for k, v in (child_meta.get("labels") or {}).items()}
    if PARENT_LABEL in labels:
        raise SpecError(f"syncedSecretMetadata.labels: {PARENT_LABEL} is set by the operator")
    child_spec = dict(spec.get("syncedSecretSpec") or {})
    try:
        synced = parse_synced_secret({"metadata": {"name": child_name}, "spec": child_spec})
    except SpecError as exc:
        raise SpecError(f"syncedSecretSpec: {exc.message}") from None
    return ClusterSyncedSecretSpec(
        namespaces=namespaces, selector=selector, child_name=child_name, child_labels=labels,
        child_annotations={str(k): str(v) for k, v in (child_meta.get("annotations") or {}).items()},
        child_spec=child_spec, synced=synced, uid=str(meta.get("uid", "")), name=str(meta.get("name", "")))
