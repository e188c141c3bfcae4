"""A store's request budget: every AWS request made for one store, retries included, draws from one
token bucket, so a throttled store slows down instead of storming AWS. The budget is shared by every
namespace using the store, in turns, and what one namespace overspends is its own debt.

Waiting happens on the event loop, never in a worker thread: a store limited to 0.1 requests/s must
not park the threads every other store's calls run in. A call takes its turn (`wait_turn`, a
coroutine) before it is handed to a thread; inside the thread each HTTP attempt `spend`s, the first
one already paid for by the turn. Extra attempts (a retry, a second page, the 250 reads of one first
sync) are the debt of the namespace whose call made them: its next turns first pay that debt off,
token by token, while the namespaces waiting beside it keep getting theirs. A call whose namespace
owes more than the burst waits a turn for each further attempt, in its own thread (one of its own
share), so no single call (a listing of ten thousand pages) sends more than the budget allows. Tokens
are handed out in turn per namespace, so however much one namespace asks for, another namespace's
call waits about one token per waiting namespace, not behind the backlog.

The rate also adapts to AWS (additive increase, multiplicative decrease, as TCP does): quotas are
per account, so other tools may leave a store less than its `rateLimit`. Each throttled answer halves
the rate (once per second however many say so, never below 1/64 of it) and drops the saved-up burst;
then the rate climbs back by a sixtieth of `rateLimit` per second."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

EPSILON = 1e-9  # a token short by a rounding error is a token: waiting 1e-17 s would never end
# An attempt waiting its turn in a thread goes ahead, in debt, after this (it waits before it is signed,
# but a long wait still holds one of its namespace's threads).
LONGEST_ATTEMPT_WAIT = 60.0
RECOVERY_SECONDS = 60.0  # from the floor back to the full rate, when nothing is throttled meanwhile
FLOOR_FRACTION = 1 / 64


@dataclass
class _Caller:
    """The namespace a call in a worker thread is made for, whether its first attempt is paid, and the
    event loop whose turns its further attempts wait for once the namespace is deep in debt."""

    tenant: str
    loop: asyncio.AbstractEventLoop | None = None
    credit: int = 1


# Set by `prepaid` for the thread running a call (and copied into the threads that call starts), so
# that each attempt botocore sends is charged to the namespace it was made for.
_CALLER: contextvars.ContextVar[_Caller | None] = contextvars.ContextVar("stashsync_budget_caller", default=None)


class StoreBudget:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.configured = rate  # the store's rateLimit; `rate` is what AWS lets it have now
        self.rate = rate
        self.burst = burst
        self._cut_at: float | None = None
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._debts: dict[str, float] = {}  # namespace -> attempts it made beyond its turns, not yet paid
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()  # in serving order
        self._serving: asyncio.Task[None] | None = None
        self._lock = threading.Lock()  # spend() and throttled() come from worker threads

    def debt(self, tenant: str) -> float:
        with self._lock:
            return self._debts.get(tenant, 0.0)

    def _refill(self) -> float:
        """Tokens (and, after a throttle, rate) earned since the last look; under the lock."""
        now = self._clock()
        elapsed = now - self._stamp
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        if self.rate < self.configured:
            self.rate = min(self.configured, self.rate + elapsed * self.configured / RECOVERY_SECONDS)
        self._stamp = now
        return now

    def throttled(self) -> None:
        """AWS answered "slow down" (from a worker thread): halve the rate, and give up the burst."""
        with self._lock:
            now = self._refill()
            if self._cut_at is not None and now - self._cut_at < 1.0:
                return  # the answers to one burst: one cut
            self._cut_at = now
            self.rate = max(self.configured * FLOOR_FRACTION, self.rate / 2)
            self._tokens = min(self._tokens, 0.0)

    async def wait_turn(self, tenant: str) -> None:
        """Wait (on the event loop) until one more request of `tenant` fits the budget."""
        with self._lock:
            self._refill()
            if not self._waiting and self._tokens >= 1.0 - EPSILON and self._debts.get(tenant, 0.0) <= 0.0:
                self._tokens -= 1.0
                return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tenant, deque()).append(turn)
        if self._serving is None or self._serving.done():
            self._serving = asyncio.create_task(self._serve(), name="stashsync-budget")
        try:
            await turn
        except asyncio.CancelledError:
            waiters = self._waiting.get(tenant)
            if waiters is not None and turn in waiters:
                waiters.remove(turn)
                if not waiters:
                    del self._waiting[tenant]
            raise

    async def _serve(self) -> None:
        """Hand out tokens as they accrue, one per waiting namespace in turn: a namespace in debt pays
        a token of it with its turn; one without debt has its next call go ahead."""
        while self._waiting:
            turn: asyncio.Future[None] | None = None
            with self._lock:
                self._refill()
                wait = 0.0 if self._tokens >= 1.0 - EPSILON else (1.0 - self._tokens) / self.rate
                if wait == 0.0:
                    tenant = next(iter(self._waiting))
                    self._tokens -= 1.0
                    debt = self._debts.get(tenant, 0.0)
                    if debt > 0.0:
                        if debt <= 1.0:
                            del self._debts[tenant]
                        else:
                            self._debts[tenant] = debt - 1.0
                        self._waiting.move_to_end(tenant)
                    else:
                        waiters = self._waiting[tenant]
                        turn = waiters.popleft()
                        if waiters:
                            self._waiting.move_to_end(tenant)
                        else:
                            del self._waiting[tenant]
            if turn is not None:
                if not turn.done():
                    turn.set_result(None)
            elif wait > 0.0:
                await self._sleep(wait)
            else:
                await asyncio.sleep(0)  # a paid-off debt: let the event loop breathe between tokens

    def prepaid(self, tenant: str, loop: asyncio.AbstractEventLoop | None, fn: Callable[..., T], *args: object) -> T:
        """Run `fn` (in a worker thread) for `tenant`, its first request paid for by a `wait_turn` on
        `loop`."""
        token = _CALLER.set(_Caller(tenant, loop))
        try:
            return fn(*args)
        finally:
            _CALLER.reset(token)

    def spend(self) -> None:
        """One HTTP attempt from a worker thread: free if prepaid; else the caller's debt, or, when its
        namespace owes more than the burst, a wait for its turn (in this thread, never on the loop)."""
        caller = _CALLER.get()
        with self._lock:
            if caller is not None and caller.credit > 0:
                caller.credit -= 1
                return
            tenant = caller.tenant if caller is not None else ""
            debt = self._debts.get(tenant, 0.0)
            loop = caller.loop if caller is not None else None
            if (loop is None or debt < self.burst or loop.is_closed() or not loop.is_running()
                    or _on_a_loop()):
                self._debts[tenant] = debt + 1.0
                return
        turn = asyncio.run_coroutine_threadsafe(self.wait_turn(tenant), loop)
        try:
            turn.result(LONGEST_ATTEMPT_WAIT)
        except Exception:  # the loop is stopping, or the wait ran out: go on, in debt (unless the turn came)
            if turn.cancel():
                with self._lock:
                    self._debts[tenant] = self._debts.get(tenant, 0.0) + 1.0


def _on_a_loop() -> bool:
    """This thread runs an event loop (waiting here for a turn on it would never end)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
