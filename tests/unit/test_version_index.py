"""The shared version index: one check per credential for all the objects reading it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stashsync.controllers.version_index import JOIN_SECONDS, Subscriber, VersionIndex
from stashsync.errors import CredentialNotFound
from stashsync.sources.registry import StoreIdentity

HOUR = 3600.0
S1, S2 = StoreIdentity("s1", "cluster"), StoreIdentity("s2", "cluster")


class Source:
    def __init__(self, versions: dict[Any, str]) -> None:
        self.versions = versions
        self.calls: list[list[Any]] = []
        self.gate: asyncio.Event | None = None  # when set, checks wait for it before answering

    async def check(self, keys: list[Any]) -> list[str]:
        """Reads when called (what AWS holds then), answers when the gate opens."""
        self.calls.append(list(keys))
        missing = [k for k in keys if k not in self.versions]
        found = [self.versions[k] for k in keys if k in self.versions]
        if self.gate is not None:
            await self.gate.wait()
        if missing:
            raise CredentialNotFound(f"credential {missing[0]!r} not found")
        return found


def index() -> tuple[VersionIndex, list[Subscriber]]:
    woken: list[Subscriber] = []
    return VersionIndex(woken.append), woken


def objects(n: int) -> list[Subscriber]:
    return [(f"ns-{i}", "app") for i in range(n)]


def test_many_objects_on_one_credential_make_one_check_per_round() -> None:
    async def scenario() -> None:
        versions, _ = index()
        source = Source({"db": "1"})
        subscribers = objects(200)
        for _round in range(3):  # each object syncs once per round, as its own interval comes round
            for who in subscribers:
                assert await versions.get(who, ["db"], source.check, HOUR) == ["1"]
        assert len(source.calls) == 3  # the first object to come round again checks; the 199 others reuse
        assert versions.checks == 3
    asyncio.run(scenario())


def test_an_object_alone_checks_every_time() -> None:
    async def scenario() -> None:
        versions, _ = index()
        source = Source({"db": "1"})
        for _ in range(4):
            await versions.get(("ns", "app"), ["db"], source.check, HOUR)
        assert len(source.calls) == 4
    asyncio.run(scenario())


def test_a_check_older_than_the_objects_interval_is_not_reused() -> None:
    async def scenario() -> None:
        versions, _ = index()
        source = Source({"db": "1"})
        await versions.get(("a", "x"), ["db"], source.check, HOUR)
        await versions.get(("b", "x"), ["db"], source.check, 0.0)  # interval 0: every check is its own
        assert len(source.calls) == 2
    asyncio.run(scenario())


def test_a_new_version_wakes_the_other_readers_but_not_the_one_that_found_it() -> None:
    async def scenario() -> None:
        versions, woken = index()
        source = Source({"db": "1", "other": "7"})
        a, b, c = objects(3)
        await versions.get(a, ["db"], source.check, HOUR)
        await versions.get(b, ["db"], source.check, HOUR)
        await versions.get(c, ["other"], source.check, HOUR)
        source.versions["db"] = "2"
        assert await versions.get(a, ["db"], source.check, HOUR) == ["2"]
        assert woken == [b]  # c reads another credential
        assert await versions.get(b, ["db"], source.check, HOUR) == ["2"]  # the wake-up costs no check
        assert len(source.calls) == 3
    asyncio.run(scenario())


def test_a_recorded_read_counts_as_a_check() -> None:
    async def scenario() -> None:
        versions, woken = index()
        source = Source({"db": "1"})
        a, b = objects(2)
        await versions.get(b, ["db"], source.check, HOUR)
        versions.record(a, ["db"], ["2"], versions.begin())  # a read every value and saw a new version
        assert woken == [b]
        assert await versions.get(b, ["db"], source.check, HOUR) == ["2"]
        assert len(source.calls) == 1
    asyncio.run(scenario())


def test_simultaneous_checks_of_one_credential_are_made_once() -> None:
    async def scenario() -> None:
        versions, _ = index()
        source = Source({"db": "1", "api": "3"})
        source.gate = asyncio.Event()
        tasks = [asyncio.create_task(versions.get(who, ["db", "api"], source.check, HOUR)) for who in objects(50)]
        await asyncio.sleep(0)
        source.gate.set()
        assert {tuple(r) for r in await asyncio.gather(*tasks)} == {("1", "3")}
        assert source.calls == [["db", "api"]]
    asyncio.run(scenario())


def test_a_failed_check_is_not_shared_each_waiting_object_checks_on_its_own() -> None:
    async def scenario() -> None:
        versions, _ = index()
        source = Source({})
        source.gate = asyncio.Event()
        tasks = [asyncio.create_task(versions.get(who, ["db"], source.check, HOUR)) for who in objects(3)]
        await asyncio.sleep(0)
        source.gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, CredentialNotFound) for r in results)  # each from its own check
        assert len(source.calls) == 3 and len(versions) == 0
        source.versions["db"] = "1"
        assert await versions.get(objects(1)[0], ["db"], source.check, HOUR) == ["1"]
    asyncio.run(scenario())


def test_an_error_of_another_objects_input_never_reaches_an_object_waiting_on_its_check() -> None:
    """The hostile object's check carries the victim's key and one of its own that fails (an invalid
    pattern, a name it may not read): the victim, waiting on that check for its key, checks it alone."""
    async def scenario() -> None:
        versions, _ = index()
        source = Source({"victim.key": "1"})
        source.gate = asyncio.Event()
        hostile = asyncio.create_task(versions.get(("hostile", "x"), ["victim.key", "bad"], source.check, HOUR))
        await asyncio.sleep(0)
        victim = asyncio.create_task(versions.get(("victim", "app"), ["victim.key"], source.check, HOUR))
        await asyncio.sleep(0)
        source.gate.set()
        assert await victim == ["1"]
        with pytest.raises(CredentialNotFound, match="bad"):
            await hostile
        assert source.calls == [["victim.key", "bad"], ["victim.key"]]
    asyncio.run(scenario())


def test_a_check_cut_off_by_its_objects_deletion_is_made_again_by_a_waiting_object() -> None:
    async def scenario() -> None:
        versions, _ = index()
        source = Source({"db": "1"})
        source.gate = asyncio.Event()
        a, b = objects(2)
        first = asyncio.create_task(versions.get(a, ["db"], source.check, HOUR))
        await asyncio.sleep(0)
        second = asyncio.create_task(versions.get(b, ["db"], source.check, HOUR))
        await asyncio.sleep(0)
        first.cancel()
        source.gate.set()
        assert await second == ["1"]
        with pytest.raises(asyncio.CancelledError):
            await first
        assert len(source.calls) == 2
    asyncio.run(scenario())


def test_unsubscribing_the_last_reader_forgets_the_credential() -> None:
    async def scenario() -> None:
        versions, woken = index()
        source = Source({"db": "1"})
        a, b = objects(2)
        await versions.get(a, ["db"], source.check, HOUR)
        await versions.get(b, ["db"], source.check, HOUR)
        versions.unsubscribe(a)
        assert versions.subscribers("db") == {b}
        versions.unsubscribe(b)
        assert len(versions) == 0 and not woken
    asyncio.run(scenario())


def test_a_feed_wakes_the_readers_of_what_changed_and_their_next_sync_checks_anew() -> None:
    async def scenario() -> None:
        versions, woken = index()
        source = Source({(S1, "version", "db"): "1", (S1, "version", "api"): "1", (S2, "version", "db"): "1",
                         (StoreIdentity("s1", "ns-3"), "version", "db"): "1"})
        a, b, c, d = objects(4)
        await versions.get(a, [(S1, "version", "db")], source.check, HOUR)
        await versions.get(b, [(S1, "version", "api")], source.check, HOUR)
        await versions.get(c, [(S2, "version", "db")], source.check, HOUR)  # another store
        await versions.get(d, [(StoreIdentity("s1", "ns-3"), "version", "db")], source.check, HOUR)  # its session
        source.versions[(S1, "version", "db")] = "2"
        assert versions.wake_matching("s1", lambda name: name == "db", lambda _: False) == 2
        assert sorted(woken) == [a, d]
        assert await versions.get(a, [(S1, "version", "db")], source.check, HOUR) == ["2"]
        assert len(source.calls) == 5
    asyncio.run(scenario())


def test_a_check_begun_before_a_feed_event_is_not_taken_as_current() -> None:
    async def scenario() -> None:
        versions, _ = index()
        key = (S1, "version", "db")
        source = Source({key: "1"})
        a, b = objects(2)
        await versions.get(b, [key], source.check, HOUR)
        source.gate = asyncio.Event()
        early = asyncio.create_task(versions.get(b, [key], source.check, HOUR))  # in flight, reads "1"
        await asyncio.sleep(0)
        source.versions[key] = "2"
        versions.wake_matching("s1", lambda name: name == "db", lambda _: False)
        late = asyncio.create_task(versions.get(a, [key], source.check, HOUR))  # must not join the early one
        await asyncio.sleep(0)
        source.gate.set()
        assert await late == ["2"] and await early == ["1"]
        assert len(source.calls) == 3
        assert await versions.get(b, [key], source.check, HOUR) == ["2"]  # the older result was not kept
    asyncio.run(scenario())


def test_checks_take_along_the_keys_a_namespace_reads_that_were_checked_longest_ago() -> None:
    index = VersionIndex(lambda _: None)
    keys = [(S1, "version", f"c{i}") for i in range(4)]
    for key, reader in zip(keys, [("ns", "a"), ("ns", "b"), ("other", "c"), ("ns", "d")], strict=True):
        index.record(reader, [key], ["1"], index.begin())
    assert index.take_along(S1, "ns", skip=[keys[0]], limit=5) == [keys[1], keys[3]]
    assert index.take_along(S1, "ns", skip=[], limit=1) == [keys[0]]  # b and d were taken last
    index.record(None, [keys[1]], ["2"], index.begin())  # checked along: now the newest
    assert index.take_along(S1, "ns", skip=[], limit=2) == [keys[3], keys[0]]
    index.record(None, [(S1, "version", "unread")], ["1"], index.begin())  # nobody reads it: not kept
    assert len(index) == 4
    index.unsubscribe(("ns", "d"))
    assert index.take_along(S1, "ns", skip=[], limit=5) == [keys[1], keys[0]]
    assert index.take_along(S2, "ns", skip=[], limit=5) == []
    assert index.take_along(StoreIdentity("s1", "ns"), "ns", skip=[], limit=5) == []  # another session's


def test_a_feed_wakes_a_dataFrom_listing_only_when_a_changed_name_may_match_it() -> None:
    async def scenario() -> None:
        versions, woken = index()
        apps, others = (S1, "find", "app/*", ()), (S1, "find", "other/*", ())
        source = Source({apps: "listing", others: "listing"})
        a, b = objects(2)
        await versions.get(a, [apps], source.check, HOUR)
        await versions.get(b, [others], source.check, HOUR)
        assert versions.wake_matching("s1", lambda _: False, lambda pattern: pattern == "app/*") == 1
        assert woken == [a]
    asyncio.run(scenario())


def test_another_namespaces_check_in_flight_is_joined_for_a_moment_only() -> None:
    """A check in flight waits in the turns of the namespace that made it (its request budget, its
    threads): an object of another namespace joins it for JOIN_SECONDS at most, then checks itself;
    one of the same namespace waits for it."""
    async def scenario() -> None:
        versions, _ = index()
        stuck = asyncio.Event()

        async def queued_behind_its_debt(keys: list[Any]) -> list[str]:
            await stuck.wait()
            return ["1" for _ in keys]

        async def answered(keys: list[Any]) -> list[str]:
            return ["1" for _ in keys]

        hostile = asyncio.create_task(versions.get(("hostile", "a"), ["db"], queued_behind_its_debt, HOUR))
        await asyncio.sleep(0)
        neighbour = asyncio.create_task(versions.get(("hostile", "b"), ["db"], answered, HOUR))
        started = asyncio.get_running_loop().time()
        assert await versions.get(("victim", "app"), ["db"], answered, HOUR) == ["1"]
        assert asyncio.get_running_loop().time() - started < JOIN_SECONDS + 0.5
        assert not neighbour.done()  # the same namespace's object waits for its namespace's check
        stuck.set()
        assert await hostile == ["1"] and await neighbour == ["1"]
    asyncio.run(scenario())
