"""Objects reading the same credential share what was read seconds ago through the same store
handle: a burst of first syncs, or a rotation's fetches, reads each (credential, version) once."""

from __future__ import annotations

import asyncio
from typing import Any

from stashsync.controllers import sync_flow as flow
from stashsync.controllers.templates import Templates
from stashsync.controllers.version_index import Subscription, VersionIndex
from stashsync.sources.base import CredentialRef
from stashsync.sources.recent import RecentValues
from stashsync.sources.registry import StoreHandle
from tests.objects import synced_secret
from tests.unit.fakes import FakeCurrentReader, FakeSecrets, FakeSource, handle

KEY = b"k" * 32
DATA = [{"key": "password", "name": "db.password"}]
CREDS: dict[str, tuple[str, bytes]] = {"db.password": ("1", b"pw-1")}


def plan(name: str, status: dict[str, Any] | None = None, annotations: dict[str, str] | None = None) -> flow.Plan:
    obj = synced_secret(name, "main", DATA)
    obj["metadata"].update(namespace="ns", uid=f"uid-{name}", generation=1, annotations=annotations or {})
    if status is not None:
        obj["status"] = status
    return flow.plan(obj)


def read(p: flow.Plan, store: StoreHandle, index: VersionIndex) -> tuple[dict[str, str], dict[str, bytes]]:
    async def steps() -> Any:
        shared = Subscription(index, (p.namespace, p.name), 60.0)
        wanted = await flow.resolve_refs(p.spec, store, shared)
        target = await flow.read_target(FakeSecrets().as_secrets(), p, flow.output_keys(p.spec, wanted.refs), KEY)
        return await flow.read_values(p, store, wanted, target, shared, Templates(None, {}))
    return asyncio.run(steps())  # type: ignore[no-any-return]


def test_first_syncs_through_one_store_read_the_credential_once() -> None:
    source = FakeCurrentReader(dict(CREDS))
    store, index = handle(source), VersionIndex(lambda _: None)
    results = [read(plan(f"app-{i}"), store, index) for i in range(5)]
    assert source.calls == {"read_current": 1}
    assert all(r == ({"password": "1"}, {"password": b"pw-1"}) for r in results)
    assert index.subscribers((store.identity, "version", CredentialRef("db.password"))) == {
        ("ns", f"app-{i}") for i in range(5)}  # each subscribed, so a new version wakes every one


def test_another_store_handle_reads_for_itself() -> None:
    source, index = FakeCurrentReader(dict(CREDS)), VersionIndex(lambda _: None)
    read(plan("a"), handle(source), index)
    read(plan("b"), handle(source), index)  # another session (say, another namespace's role)
    assert source.calls == {"read_current": 2}


def test_a_forced_sync_reads_anew() -> None:
    source = FakeCurrentReader(dict(CREDS))
    store, index = handle(source), VersionIndex(lambda _: None)
    read(plan("a"), store, index)
    read(plan("b", annotations={"stashsync.dev/force-sync": "now"}), store, index)
    assert source.calls == {"read_current": 2}


def test_a_new_version_is_fetched_once_for_all_its_subscribers() -> None:
    source = FakeSource(dict(CREDS))
    store, index = handle(source), VersionIndex(lambda _: None)
    synced = {"syncedVersions": {"password": "1"}, "dataMAC": "m", "observedGeneration": 1}
    source.credentials["db.password"] = ("2", b"pw-2")
    results = [read(plan(f"app-{i}", synced), store, index) for i in range(3)]
    assert source.calls == {"current_version": 1, "fetch": 1}
    assert all(r == ({"password": "2"}, {"password": b"pw-2"}) for r in results)


def test_values_are_kept_for_seconds_only() -> None:
    recent, ref = RecentValues(keep_seconds=0.0), CredentialRef("db.password")
    recent.put(ref, "1", b"pw-1")
    assert recent.get(ref, "1") is None and len(recent) == 0
    bounded = RecentValues(max_kept=2)
    for version in "123":
        bounded.put(ref, version, b"v" + version.encode())
    assert (bounded.get(ref, "1"), bounded.get(ref, "3")) == (None, b"v3")
