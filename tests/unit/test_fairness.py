"""Shared slots (fairness.FairSlots) and the AWS worker threads built on them: one namespace never
holds more than its share, and namespaces take turns."""

from __future__ import annotations

import asyncio
import threading

import pytest

from stashsync.aws.threads import AwsThreads
from stashsync.fairness import FairSlots


def test_a_tenant_holds_at_most_its_share_and_the_others_find_the_rest() -> None:
    async def scenario() -> None:
        slots = FairSlots(4, per_tenant=2)
        for _ in range(2):
            await slots.acquire("hostile")
        blocked = [asyncio.create_task(slots.acquire("hostile")) for _ in range(3)]
        await asyncio.sleep(0)
        assert slots.held("hostile") == 2 and slots.waiting("hostile") == 3
        await asyncio.wait_for(slots.acquire("victim"), 1)
        await asyncio.wait_for(slots.acquire("victim"), 1)
        assert slots.held("victim") == 2
        slots.release("hostile")
        await asyncio.sleep(0)
        assert slots.held("hostile") == 2 and slots.waiting("hostile") == 2
        for task in blocked:
            task.cancel()
        await asyncio.gather(*blocked, return_exceptions=True)
        assert slots.waiting() == 0
    asyncio.run(scenario())


def test_waiting_tenants_take_turns() -> None:
    async def scenario() -> None:
        slots = FairSlots(1)
        order: list[str] = []

        async def use(tenant: str) -> None:
            async with slots.slot(tenant):
                order.append(tenant)
                await asyncio.sleep(0)

        await slots.acquire("x")
        tasks = [asyncio.create_task(use("a")) for _ in range(3)]
        await asyncio.sleep(0)
        tasks += [asyncio.create_task(use("b")) for _ in range(2)]
        await asyncio.sleep(0)
        slots.release("x")
        await asyncio.gather(*tasks)
        assert order == ["a", "b", "a", "b", "a"]
    asyncio.run(scenario())


def test_a_slot_handed_to_a_cancelled_waiter_is_passed_on() -> None:
    async def scenario() -> None:
        slots = FairSlots(1)
        await slots.acquire("a")
        first = asyncio.create_task(slots.acquire("b"))
        second = asyncio.create_task(slots.acquire("c"))
        await asyncio.sleep(0)
        slots.release("a")  # handed to b ...
        first.cancel()  # ... which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await first
        await asyncio.wait_for(second, 1)
        assert slots.held("c") == 1 and slots.held("b") == 0
    asyncio.run(scenario())


def test_calls_that_never_return_hold_only_their_namespaces_threads() -> None:
    """A namespace whose store never answers (or whose calls are many) holds its share of the threads;
    another namespace's call runs at once."""
    async def scenario() -> None:
        threads = AwsThreads(size=4, per_tenant=2)
        stuck = threading.Event()
        try:
            hostile = [asyncio.create_task(threads.run("hostile", stuck.wait, 30)) for _ in range(10)]
            await asyncio.sleep(0.05)
            assert threads.slots.held("hostile") == 2
            assert await asyncio.wait_for(threads.run("victim", lambda: "answered"), 2) == "answered"
        finally:
            stuck.set()
        assert all(await asyncio.gather(*hostile))
        assert threads.slots.held("hostile") == 0
        threads.shutdown()
    asyncio.run(scenario())


def test_a_cancelled_caller_keeps_its_slot_until_its_thread_is_done() -> None:
    async def scenario() -> None:
        threads = AwsThreads(size=1, per_tenant=1)
        gate = threading.Event()
        call = asyncio.create_task(threads.run("a", gate.wait, 30))
        await asyncio.sleep(0.05)
        call.cancel()
        await asyncio.sleep(0.05)
        assert threads.slots.held("a") == 1  # the thread still runs: its slot is not handed on
        gate.set()
        assert await asyncio.wait_for(threads.run("b", lambda: 1), 2) == 1
        threads.shutdown()
    asyncio.run(scenario())
