"""Slots shared by every namespace: the one primitive behind each pool the operator shares between
tenants (AWS worker threads, feed long polls, restart slots, template renders).

Slots are handed out in turn per tenant (a namespace; "" is the cluster admin's own work): a tenant
with many waiting users gets one slot, then every other waiting tenant gets one. And no tenant holds
more than `per_tenant` slots at once, so however long its users hold them (a slow store, a long
poll, a stuck rollout), the other tenants always find the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator


class FairSlots:
    """`size` slots, at most `per_tenant` of them held by one tenant (default: all of them). Used
    from the event loop only (a thread hands its release back with loop.call_soon_threadsafe)."""

    def __init__(self, size: int, per_tenant: int | None = None) -> None:
        self.size = max(1, size)
        self.per_tenant = max(1, min(per_tenant or self.size, self.size))
        self._free = self.size
        self._held: Counter[str] = Counter()
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()  # in serving order

    def held(self, tenant: str) -> int:
        return self._held[tenant]

    def waiting(self, tenant: str | None = None) -> int:
        """Users waiting for a slot (of `tenant`, or of every tenant)."""
        if tenant is not None:
            return len(self._waiting.get(tenant, ()))
        return sum(len(q) for q in self._waiting.values())

    async def acquire(self, tenant: str) -> None:
        if self._free > 0 and self._held[tenant] < self.per_tenant and tenant not in self._waiting:
            self._take(tenant)  # a free slot means nobody else who may take one is waiting
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tenant, deque()).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release(tenant)  # handed a slot just as it was cancelled: pass it on
            else:
                waiters = self._waiting.get(tenant)
                if waiters is not None and turn in waiters:
                    waiters.remove(turn)
                    if not waiters:
                        del self._waiting[tenant]
            raise

    def release(self, tenant: str) -> None:
        self._held[tenant] -= 1
        if self._held[tenant] <= 0:
            del self._held[tenant]
        self._free += 1
        self._hand_out()

    @contextlib.asynccontextmanager
    async def slot(self, tenant: str) -> AsyncIterator[None]:
        await self.acquire(tenant)
        try:
            yield
        finally:
            self.release(tenant)

    def _take(self, tenant: str) -> None:
        self._free -= 1
        self._held[tenant] += 1

    def _hand_out(self) -> None:
        """Free slots to waiting tenants in turn, skipping those at their share."""
        while self._free > 0:
            tenant = next((t for t in self._waiting if self._held[t] < self.per_tenant), None)
            if tenant is None:
                return
            waiters = self._waiting[tenant]
            turn = waiters.popleft()
            if waiters:
                self._waiting.move_to_end(tenant)  # its next user waits for every other tenant's turn
            else:
                del self._waiting[tenant]
            if not turn.done():
                self._take(tenant)
                turn.set_result(None)
