"""Objects reading the same credential share what was read seconds ago through the same store
handle: a burst of first syncs, or a rotation's fetches, reads each (credential, version) once."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from typing import Any, cast

import pytest

from stashsync import errors
from stashsync.aws.clients import AwsClients
from stashsync.controllers import sync_flow as flow
from stashsync.controllers.scheduler import SyncScheduler
from stashsync.controllers.templates import Templates
from stashsync.controllers.version_index import Subscription, VersionIndex
from stashsync.sources.base import CredentialRef
from stashsync.sources.recent import RecentValues
from stashsync.sources.registry import StoreHandle
from tests.objects import synced_secret
from tests.unit.fakes import FakeAheadChecker, FakeAheadReader, FakeCurrentReader, FakeSecrets, FakeSource, handle

KEY = b"k" * 32
DATA = [{"key": "password", "name": "db.password"}]
CREDS: dict[str, tuple[str, bytes]] = {"db.password": ("1", b"pw-1")}


def plan(name: str, status: dict[str, Any] | None = None, annotations: dict[str, str] | None = None,
         data: list[dict[str, str]] | None = None) -> flow.Plan:
    obj = synced_secret(name, "main", data or DATA)
    obj["metadata"].update(namespace="ns", uid=f"uid-{name}", generation=1, annotations=annotations or {})
    if status is not None:
        obj["status"] = status
    return flow.plan(obj)


async def read_async(p: flow.Plan, store: StoreHandle, index: VersionIndex,
                     upcoming: list[CredentialRef] | None = None) -> tuple[dict[str, str], dict[str, bytes]]:
    shared = Subscription(index, (p.namespace, p.name), 60.0)
    wanted = await flow.resolve_refs(p.spec, store, shared)
    target = await flow.read_target(FakeSecrets().as_secrets(), p, flow.output_keys(p.spec, wanted.refs), KEY)
    read = await flow.read_values(p, store, wanted, target, shared, Templates(None, {}), lambda: upcoming or [])
    assert read is not None
    return read


def read(p: flow.Plan, store: StoreHandle, index: VersionIndex,
         upcoming: list[CredentialRef] | None = None) -> tuple[dict[str, str], dict[str, bytes]]:
    return asyncio.run(read_async(p, store, index, upcoming))


def on(name: str, credential: str) -> flow.Plan:
    return plan(name, data=[{"key": "v", "name": credential}])


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


MANY = {f"c{i}": (str(i), f"value-{i}".encode()) for i in range(6)}


def test_a_first_sync_reads_ahead_for_the_waiting_ones_in_the_room_its_call_has() -> None:
    source = FakeAheadReader(dict(MANY), per_call=4)  # room for 3 beside its own
    store, index = handle(source), VersionIndex(lambda _: None)
    waiting = [CredentialRef(f"c{i}") for i in range(1, 6)]
    assert read(on("app-0", "c0"), store, index, waiting) == ({"v": "0"}, {"v": b"value-0"})
    assert source.calls == {"read_current_ahead": 1}
    for i in (1, 2, 3):  # taken from the read ahead, each subscribed as if it had read it
        assert read(on(f"app-{i}", f"c{i}"), store, index) == ({"v": str(i)}, {"v": f"value-{i}".encode()})
        assert index.subscribers((store.identity, "version", CredentialRef(f"c{i}"))) == {("ns", f"app-{i}")}
    assert source.calls == {"read_current_ahead": 1}
    read(on("app-4", "c4"), store, index, waiting)  # no room was left for it: it reads (and ahead) itself
    assert source.calls == {"read_current_ahead": 2}


def test_what_fails_ahead_fails_nothing_and_its_own_sync_reports_it() -> None:
    source = FakeAheadReader(dict(MANY), per_call=4)
    store, index = handle(source), VersionIndex(lambda _: None)
    assert read(on("app-0", "c0"), store, index, [CredentialRef("missing"), CredentialRef("c1")])[0] == {"v": "0"}
    with pytest.raises(errors.CredentialNotFound):
        read(on("app-1", "missing"), store, index)
    assert source.calls == {"read_current_ahead": 1, "read_current": 1}


def test_a_sync_waits_for_the_read_ahead_of_its_credential_in_flight() -> None:
    source = FakeAheadReader(dict(MANY), per_call=4)
    release = asyncio.Event()

    class SlowClients:
        async def run(self, tenant: str, fn: Callable[..., Any], *args: Any) -> Any:
            await release.wait()
            return fn(*args)

    store = dataclasses.replace(handle(source), clients=cast(AwsClients, SlowClients()))
    index = VersionIndex(lambda _: None)

    async def both() -> list[Any]:
        first = asyncio.create_task(read_async(on("app-0", "c0"), store, index, [CredentialRef("c1")]))
        await asyncio.sleep(0.01)  # app-0's read (with c1 ahead) is in flight
        second = asyncio.create_task(read_async(on("app-1", "c1"), store, index))
        await asyncio.sleep(0.01)
        release.set()
        return list(await asyncio.gather(first, second))

    assert asyncio.run(both()) == [({"v": "0"}, {"v": b"value-0"}), ({"v": "1"}, {"v": b"value-1"})]
    assert source.calls == {"read_current_ahead": 1}


def test_a_forced_sync_neither_takes_nor_reads_ahead() -> None:
    source = FakeAheadReader(dict(MANY), per_call=4)
    store, index = handle(source), VersionIndex(lambda _: None)
    read(on("app-0", "c0"), store, index, [CredentialRef("c1")])
    forced = plan("app-1", annotations={"stashsync.dev/force-sync": "now"}, data=[{"key": "v", "name": "c1"}])
    read(forced, store, index, [CredentialRef("c2")])
    assert source.calls == {"read_current_ahead": 1, "read_current": 1}
    read(on("app-2", "c2"), store, index)  # nothing was read ahead for it
    assert source.calls == {"read_current_ahead": 1, "read_current": 2}


def test_upcoming_reads_are_the_current_credentials_of_waiting_first_syncs_on_the_same_store() -> None:
    def body(name: str, store: str, data: list[dict[str, str]], status: dict[str, Any] | None = None) -> bytes:
        obj = synced_secret(name, store, data)
        obj["metadata"].update(namespace="ns", uid=name)
        if status:
            obj["status"] = status
        return json.dumps(obj).encode()

    async def waiting() -> list[CredentialRef]:
        syncs = SyncScheduler(concurrency=1, per_namespace=1)
        hold = asyncio.Event()

        async def run(key: Any, raw: bytes, failures: int) -> tuple[bool, float | None]:
            await hold.wait()
            return True, None

        syncs.track(("ns", "running"), body("running", "main", [{"key": "v", "name": "c0"}]))
        syncs.track(("ns", "a"), body("a", "main", [{"key": "v", "name": "c1"}, {"key": "w", "name": "c2"}]))
        syncs.track(("ns", "pinned"), body("pinned", "main", [{"key": "v", "name": "c3", "version": "7"}]))
        syncs.track(("ns", "synced"), body("synced", "main", [{"key": "v", "name": "c4"}], {"dataMAC": "m"}))
        syncs.track(("ns", "other-store"), body("other-store", "other", [{"key": "v", "name": "c5"}]))
        syncs.track(("other-ns", "b"), body("b", "main", [{"key": "v", "name": "c6"}]))
        serving = asyncio.create_task(syncs.serve(run))
        await asyncio.sleep(0.01)
        found = list(flow.upcoming_reads(syncs, on("running", "c0")))
        hold.set()
        await syncs.stop(1.0)
        serving.cancel()
        return found

    assert asyncio.run(waiting()) == [CredentialRef("c1"), CredentialRef("c2")]


def test_a_check_with_room_takes_along_the_credentials_checked_longest_ago() -> None:
    source = FakeAheadChecker(dict(MANY), per_call=4)  # room for 3 beside its own
    store, index = handle(source), VersionIndex(lambda _: None)
    for i in range(6):  # each object's first sync, in turn
        read(on(f"app-{i}", f"c{i}"), store, index)
    source.calls.clear()
    for i in range(6):  # the next round: what the later first checks took along serves app-0 to app-3
        assert read(on(f"app-{i}", f"c{i}"), store, index)[0] == {"v": str(i)}
    assert source.calls["current_versions_ahead"] == 2 and not source.calls["current_versions"]
    assert index.subscribers((store.identity, "version", CredentialRef("c2"))) == {("ns", "app-2")}


def test_a_credential_missing_along_fails_nothing() -> None:
    source = FakeAheadChecker(dict(MANY), per_call=4)
    store, index = handle(source), VersionIndex(lambda _: None)
    read(on("app-0", "c0"), store, index)
    read(on("app-1", "c1"), store, index)
    del source.credentials["c0"]  # deleted at the source: app-0's own check will say so
    assert read(on("app-1", "c1"), store, index)[0] == {"v": "1"}
    assert source.checked_along == [CredentialRef("c0")]
