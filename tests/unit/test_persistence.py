"""kopf's diff base is stored for kinds with change handlers and skipped for SyncedSecrets."""

from __future__ import annotations

from typing import Any, cast

import kopf

from stashsync.api import API_VERSION, GROUP
from stashsync.startup import WITHOUT_DIFF_BASE, SelectiveDiffBaseStorage

KEY = "stashsync.dev/last-handled-configuration"


def body(kind: str, **annotations: str) -> kopf.Body:
    raw: dict[str, Any] = {"apiVersion": API_VERSION, "kind": kind,
                           "metadata": {"name": "x", "namespace": "ns", "annotations": annotations},
                           "spec": {"storeRef": {"name": "s"}}}
    return kopf.Body(cast(kopf.RawBody, raw))


def storage() -> SelectiveDiffBaseStorage:
    return SelectiveDiffBaseStorage(skipped_kinds=WITHOUT_DIFF_BASE, prefix=GROUP,
                                    key="last-handled-configuration", ignored_fields=["spec.token"])


def test_a_synced_secret_gets_no_diff_base_annotation() -> None:
    patch = kopf.Patch()
    store, b = storage(), body("SyncedSecret")
    store.store(body=b, patch=patch, essence=store.build(body=b))
    assert not patch


def test_nothing_of_a_synced_secret_is_copied_for_a_diff() -> None:
    assert storage().build(body=body("SyncedSecret", note="x")) == {}


def test_a_stale_annotation_on_a_synced_secret_is_ignored() -> None:
    assert storage().fetch(body=body("SyncedSecret", **{KEY: '{"spec":{}}'})) is None


def test_other_kinds_keep_theirs() -> None:
    patch = kopf.Patch()
    store, b = storage(), body("WrappedSecret")
    essence = store.build(body=b)
    store.store(body=b, patch=patch, essence=essence)
    assert KEY in patch["metadata"]["annotations"]
    stored = body("WrappedSecret", **{KEY: patch["metadata"]["annotations"][KEY]})
    assert store.fetch(body=stored) == essence
