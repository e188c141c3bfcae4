"""`kubectl explain` documents every field: each property of every CRD schema has a description."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CRDS = sorted((Path(__file__).resolve().parents[2] / "crds").glob("*.stashsync.dev.yaml"))
UNDOCUMENTED_BY_KUBERNETES = {"metadata"}  # explained by Kubernetes' own ObjectMeta


def undocumented(schema: dict[str, Any], path: str) -> list[str]:
    missing = []
    for name, prop in (schema.get("properties") or {}).items():
        where = f"{path}.{name}"
        if name not in UNDOCUMENTED_BY_KUBERNETES and not str(prop.get("description") or "").strip():
            missing.append(where)
        missing += undocumented(prop, where)
        if isinstance(prop.get("items"), dict):
            missing += undocumented(prop["items"], where + "[]")
        if isinstance(prop.get("additionalProperties"), dict):
            missing += undocumented(prop["additionalProperties"], where + "{}")
    return missing


def test_every_field_of_every_crd_is_described() -> None:
    assert len(CRDS) >= 5
    missing = []
    for path in CRDS:
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            missing += undocumented(version["schema"]["openAPIV3Schema"], f"{crd['spec']['names']['kind']}")
    assert missing == []
