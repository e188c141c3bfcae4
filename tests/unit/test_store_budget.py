"""A store's request budget (aws/ratelimit.py): the rate and burst, AWS's throttling, and the turns
namespaces take in it, on a fake clock that moves only when the budget sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from stashsync.aws.ratelimit import StoreBudget


def _fake_time() -> tuple[list[float], list[float], Callable[[float], Awaitable[None]]]:
    """(now, slept, sleep): a clock that moves only when the budget sleeps."""
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds
        await asyncio.sleep(0)  # as a real sleep does, let the others run meanwhile
    return now, slept, sleep


def test_the_budget_allows_the_burst_then_the_rate() -> None:
    now, slept, sleep = _fake_time()

    async def turns(n: int) -> None:
        for _ in range(n):
            await budget.wait_turn("ns")

    budget = StoreBudget(rate=2.0, burst=3, clock=lambda: now[0], sleep=sleep)
    asyncio.run(turns(3))
    assert slept == []
    asyncio.run(turns(4))
    assert slept == pytest.approx([0.5, 0.5, 0.5, 0.5])  # 2 a second after the burst
    now[0] += 100  # a quiet spell refills to the burst, no more
    asyncio.run(turns(3))
    assert len(slept) == 4


def test_extra_attempts_never_sleep_in_a_thread_and_are_the_debt_of_their_namespace() -> None:
    now, slept, sleep = _fake_time()
    budget = StoreBudget(rate=1.0, burst=1, clock=lambda: now[0], sleep=sleep)

    def three_attempts() -> str:  # e.g. a call and two retries, each a before-send
        for _ in range(3):
            budget.spend()
        return "done"

    async def call(tenant: str) -> str:
        await budget.wait_turn(tenant)
        return await asyncio.to_thread(budget.prepaid, tenant, None, three_attempts)

    assert asyncio.run(call("a")) == "done" and slept == []  # the first attempt was paid by the turn
    assert budget.debt("a") == 2.0 and budget.debt("b") == 0.0
    asyncio.run(call("a"))
    assert sum(slept) == pytest.approx(3.0)  # two attempts of debt, then this turn's own token


def test_one_namespaces_debt_is_not_what_another_namespace_waits_for() -> None:
    """A first sync that read 250 credentials in one call owes 499 attempts: its namespace's next calls
    wait them out, token by token; another namespace's call takes its turn beside them."""
    now, _, sleep = _fake_time()
    budget = StoreBudget(rate=10.0, burst=10, clock=lambda: now[0], sleep=sleep)
    done: dict[str, float] = {}

    def many_attempts() -> None:
        for _ in range(500):
            budget.spend()

    async def call(tenant: str, label: str, work: Callable[[], None] = lambda: None) -> None:
        await budget.wait_turn(tenant)
        done[label] = now[0]  # its turn came
        await asyncio.to_thread(budget.prepaid, tenant, None, work)

    async def run() -> None:
        await call("hostile", "first", many_attempts)
        hostile = [asyncio.create_task(call("hostile", f"hostile-{i}")) for i in range(5)]
        await asyncio.sleep(0)
        await call("victim", "victim")
        await asyncio.gather(*hostile)

    asyncio.run(run())
    assert budget.debt("victim") == 0.0
    assert done["victim"] <= 1.0  # a token or two at 10/s, not the 50 s of the hostile debt
    assert min(done[f"hostile-{i}"] for i in range(5)) >= 49.0  # its own debt, paid before its next call


def test_namespaces_take_tokens_in_turn() -> None:
    now, _, sleep = _fake_time()
    budget = StoreBudget(rate=1.0, burst=1, clock=lambda: now[0], sleep=sleep)
    order: list[str] = []

    async def call(tenant: str) -> None:
        await budget.wait_turn(tenant)
        order.append(tenant)

    async def run() -> None:
        await call("x")  # the burst is spent
        waiting = [asyncio.create_task(call("a")) for _ in range(4)]
        await asyncio.sleep(0)
        waiting += [asyncio.create_task(call("b")) for _ in range(2)]
        await asyncio.gather(*waiting)

    asyncio.run(run())
    assert order == ["x", "a", "b", "a", "b", "a", "a"]


def test_a_cancelled_wait_gives_its_place_up() -> None:
    now, _, sleep = _fake_time()
    budget = StoreBudget(rate=1.0, burst=1, clock=lambda: now[0], sleep=sleep)

    async def run() -> None:
        await budget.wait_turn("a")
        waiting = asyncio.create_task(budget.wait_turn("a"))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.wait_for(budget.wait_turn("b"), 5)

    asyncio.run(run())
    assert now[0] == pytest.approx(1.0)  # b took the next token, the one the cancelled wait would have had


def test_a_throttled_answer_halves_the_budget_once_a_second_and_it_climbs_back() -> None:
    now, _, sleep = _fake_time()
    budget = StoreBudget(rate=60.0, burst=60, clock=lambda: now[0], sleep=sleep)
    budget.throttled()
    budget.throttled()  # the same burst's other answers: still one cut
    assert budget.rate == 30.0
    now[0] += 1.0
    budget.throttled()
    assert budget.rate == pytest.approx(15.5)  # a second of climbing (+1/s), then halved
    for _ in range(20):
        now[0] += 1.0
        budget.throttled()
    assert budget.rate >= 60.0 / 64  # never below its floor
    now[0] += 120
    asyncio.run(budget.wait_turn("ns"))
    assert budget.rate == 60.0  # back to the store's rateLimit, no further


def test_a_throttled_answer_gives_up_the_saved_burst() -> None:
    now, slept, sleep = _fake_time()
    budget = StoreBudget(rate=10.0, burst=100, clock=lambda: now[0], sleep=sleep)
    budget.throttled()
    asyncio.run(budget.wait_turn("ns"))
    assert slept == pytest.approx([0.2])  # at the halved rate, not out of the 100 saved


def test_a_call_deep_in_debt_waits_a_turn_for_each_further_attempt_in_its_own_thread() -> None:
    """A listing of many pages: once its namespace owes more than the burst, each further page waits
    its turn (in the worker thread), so one call never sends more than the budget allows."""
    now, _, sleep = _fake_time()
    budget = StoreBudget(rate=10.0, burst=10, clock=lambda: now[0], sleep=sleep)

    def pages() -> float:
        most = 0.0
        for _ in range(60):
            budget.spend()
            most = max(most, budget.debt("lister"))
        return most

    async def call() -> float:
        await budget.wait_turn("lister")
        return await asyncio.to_thread(budget.prepaid, "lister", asyncio.get_running_loop(), pages)

    assert asyncio.run(call()) <= 10.0  # never deeper in debt than the burst
    assert now[0] >= 4.0  # the 60 attempts took their turns at 10 a second, beyond the burst
