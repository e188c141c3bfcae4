"""The worker threads blocking AWS calls (boto3) run in, shared fairly between namespaces.

Every call names the tenant it is made for (the namespace of the object, "" for the admin's cluster
stores and the operator's own work) and waits for a thread in that tenant's turn (fairness.FairSlots):
a namespace whose store answers slowly, or that starts hundreds of calls at once, holds at most its
share of the threads, and every other namespace's calls still find one.

Long polls (an SQS change feed waits up to 20 s for a message) run in a pool of their own, so they
never hold a thread a sync needs; that pool has per-namespace shares too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from stashsync.fairness import FairSlots

T = TypeVar("T")


class AwsThreads:
    def __init__(self, size: int, per_tenant: int, name: str = "aws") -> None:
        self.size = max(1, size)
        self._executor = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix=name)
        self.slots = FairSlots(self.size, per_tenant)

    async def run(self, tenant: str, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker thread, once `tenant` has its turn. The slot is held until the thread
        is done, even when the caller is cancelled meanwhile (the thread cannot be stopped)."""
        await self.slots.acquire(tenant)
        loop = asyncio.get_running_loop()
        try:
            future: Future[T] = self._executor.submit(contextvars.copy_context().run, fn, *args)
        except BaseException:
            self.slots.release(tenant)
            raise

        def done(_: Future[T]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(self.slots.release, tenant)

        future.add_done_callback(done)
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class AwsWorkers:
    """The operator's two pools: calls, and long polls."""

    def __init__(self, size: int, per_tenant: int, long_polls: int, long_polls_per_tenant: int) -> None:
        self.calls = AwsThreads(size, per_tenant, "aws")
        self.long_polls = AwsThreads(long_polls, long_polls_per_tenant, "aws-long-poll")

    def shutdown(self) -> None:
        self.calls.shutdown()
        self.long_polls.shutdown()
