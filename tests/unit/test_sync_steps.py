"""The SyncedSecret sync's decisions, step by step, on a fake source and a fake Secret store: which
calls a refresh makes, when a value is reused, when the Secret is rewritten, when workloads restart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stashsync.controllers import sync_flow as flow
from stashsync.controllers.memo import WrittenSecrets
from stashsync.controllers.templates import Templates
from stashsync.crypto import mac
from stashsync.errors import StashError
from tests.objects import synced_secret
from tests.unit.fakes import FakeCurrentReader, FakeSecrets, FakeSource, handle, unshared

KEY = b"k" * 32
DATA = [{"key": "user", "name": "db.user"}, {"key": "password", "name": "db.password"}]


def body(status: dict[str, Any] | None = None, generation: int = 1, **spec: Any) -> dict[str, Any]:
    obj = synced_secret("app", "main", spec.pop("data", DATA), **spec)
    obj["metadata"].update(namespace="ns", uid="uid-1", generation=generation)
    if status is not None:
        obj["status"] = status
    return obj


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def read_step(p: flow.Plan, source: FakeSource, secrets: FakeSecrets) -> tuple[flow.TargetState, Any]:
    """The sync up to its is_unchanged decision: (our Secret as found, what read_values returned)."""
    store = handle(source)
    wanted = await flow.resolve_refs(p.spec, store, unshared())
    target = await flow.read_target(secrets.as_secrets(), p, flow.output_keys(p.spec, wanted.refs), KEY)
    return target, await flow.read_values(p, store, wanted, target, unshared(), Templates(None, {}))


async def first_sync(source: FakeSource, secrets: FakeSecrets, **spec: Any) -> dict[str, Any]:
    """Sync once as the flow does and return the status it would record."""
    p = flow.plan(body(**spec))
    target, read = await read_step(p, source, secrets)
    assert read is not None
    versions, values = read
    data_mac = mac.data_mac(KEY, p.uid, values)
    await flow.write_secret(secrets.as_secrets(), p, values, data_mac, target, WrittenSecrets())
    return {"syncedVersions": versions, "dataMAC": data_mac, "observedGeneration": p.generation,
            "rolloutMAC": data_mac}


def creds(password_version: str = "1") -> dict[str, tuple[str, bytes]]:
    return {"db.user": ("1", b"app"), "db.password": (password_version, b"pw-" + password_version.encode())}


def test_first_sync_creates_the_secret_without_reading_it_first() -> None:
    source, secrets = FakeSource(creds()), FakeSecrets()
    run(first_sync(source, secrets))
    assert secrets.calls == {"write": 1}  # no read: a never-synced Secret is most likely absent
    assert source.calls == {"current_version": 2, "fetch": 2}


def test_unchanged_versions_fetch_and_write_nothing() -> None:
    source, secrets = FakeSource(creds()), FakeSecrets()
    status = run(first_sync(source, secrets))
    source.calls.clear()
    p = flow.plan(body(status))
    target, read = run(read_step(p, source, secrets))
    assert target.intact and not flow.needs_every_value(p, target)
    assert read is None  # is_unchanged: done
    assert source.calls == {"current_version": 2}  # a version check per credential, no decryption


def test_only_the_rotated_credential_is_fetched_the_other_comes_from_the_secret() -> None:
    source, secrets = FakeSource(creds()), FakeSecrets()
    status = run(first_sync(source, secrets))
    source.credentials.update(creds(password_version="2"))
    source.calls.clear()
    _, (versions, values) = run(read_step(flow.plan(body(status)), source, secrets))
    assert versions == {"user": "1", "password": "2"}
    assert values == {"user": b"app", "password": b"pw-2"}
    assert source.calls == {"current_version": 2, "fetch": 1}


def test_an_edited_secret_is_not_reused_and_every_value_is_read_again() -> None:
    source, secrets = FakeSource(creds()), FakeSecrets()
    status = run(first_sync(source, secrets))
    stored = secrets.stored[("ns", "app")]
    stored["data"]["user"] = "ZWRpdGVk"  # someone edited the Secret
    p = flow.plan(body(status))
    target = run(flow.read_target(secrets.as_secrets(), p, {"user", "password"}, KEY))
    assert not target.intact and flow.needs_every_value(p, target)
    assert flow.reusable_values(p, target, {"user": "1", "password": "1"}) == {}


def test_a_new_generation_reads_every_value_where_one_call_gives_versions_and_values() -> None:
    source, secrets = FakeCurrentReader(creds()), FakeSecrets()
    status = run(first_sync(source, secrets))
    source.calls.clear()
    p = flow.plan(body(status, generation=2))
    target, _ = run(read_step(p, source, secrets))
    assert p.spec_changed and flow.needs_every_value(p, target)
    assert source.calls == {"read_current": 1}


def test_two_found_credentials_that_become_one_key_are_refused() -> None:
    source = FakeSource({"app/db.user": ("1", b"a"), "app:db.user": ("1", b"b")})  # both key app_db.user
    p = flow.plan(body(data=[], dataFrom=[{"find": "app*"}]))
    with pytest.raises(flow.KeyCollision):
        run(flow.resolve_refs(p.spec, handle(source), unshared()))


def test_a_refused_write_forgets_what_was_to_be_written() -> None:
    secrets, written = FakeSecrets(), WrittenSecrets()
    secrets.refuse = StashError("not ours", reason="SecretConflict")
    p = flow.plan(body())
    target = run(flow.read_target(secrets.as_secrets(), p, {"user"}, KEY))
    with pytest.raises(StashError):
        run(flow.write_secret(secrets.as_secrets(), p, {"user": b"x"}, "mac", target, written))
    assert written.get(("ns", "app")) is None  # the Secret watch must not take an edit for our write


def test_restarts_follow_the_plaintext_content_and_never_the_first_sync() -> None:
    targets = [{"kind": "Deployment", "name": "web"}]
    plain = {"user": b"app"}
    first = flow.plan(body(rolloutRestartTargets=targets))
    assert not flow.needs_restart(first, KEY, plain)  # nothing recorded yet: only record
    recorded = mac.data_mac(KEY, "uid-1", plain)
    same = flow.plan(body({"rolloutMAC": recorded}, rolloutRestartTargets=targets))
    assert not flow.needs_restart(same, KEY, plain)  # e.g. re-encrypted, same plaintext
    assert flow.needs_restart(same, KEY, {"user": b"changed"})
    assert not flow.needs_restart(flow.plan(body({"rolloutMAC": recorded})), KEY, {"user": b"changed"})


def test_a_restart_is_owed_until_the_coordinator_records_it() -> None:
    targets = [{"kind": "Deployment", "name": "web"}]
    p = flow.plan(body({"rolloutMAC": "old"}, rolloutRestartTargets=targets))
    asked = flow.synced_status(p, {"user": "2"}, "data-mac", "new", {}, restart=True)
    assert asked["pendingRolloutMAC"] == "new" and "rolloutMAC" not in asked  # not done yet
    owed = flow.plan(body({"rolloutMAC": "old", "pendingRolloutMAC": "new"}, rolloutRestartTargets=targets))
    assert flow.restart_owed(owed) == "new"  # e.g. the operator stopped within the window: ask again
    done = flow.plan(body({"rolloutMAC": "new", "pendingRolloutMAC": "new"}, rolloutRestartTargets=targets))
    assert flow.restart_owed(done) is None


def test_a_secret_over_one_mebibyte_is_refused_before_it_is_written() -> None:
    p = flow.plan(body())
    with pytest.raises(StashError) as refused:
        run(flow.build_data(p, handle(FakeSource({})), {"big": b"x" * (1024 * 1024 + 1)},
                            sandbox=None, templates=None))  # type: ignore[arg-type]
    assert refused.value.reason == "TooLarge"


def test_a_new_force_sync_value_reads_every_value_once() -> None:
    source, secrets = FakeSource(creds()), FakeSecrets()
    status = run(first_sync(source, secrets))
    forced = body(status)
    forced["metadata"]["annotations"] = {"stashsync.dev/force-sync": "2026-11-23T10:00:00Z"}
    source.calls.clear()
    p = flow.plan(forced)
    target, (versions, _) = run(read_step(p, source, secrets))
    assert p.force == "2026-11-23T10:00:00Z" and flow.needs_every_value(p, target)
    assert source.calls == {"current_version": 2, "fetch": 2}  # read anew, nothing reused from the Secret
    recorded = flow.synced_status(p, versions, "mac", "mac", {}, restart=False)
    assert recorded["forcedSync"] == "2026-11-23T10:00:00Z"
    done = body({**status, "forcedSync": recorded["forcedSync"]})
    done["metadata"]["annotations"] = forced["metadata"]["annotations"]
    assert flow.plan(done).force is None  # acted on: the same value does not force again
