"""Templates run in child processes with a time and memory budget, off the operator's event loop.

A template is written by a tenant. In the operator's own process a hostile one (a loop that never
ends, a string of gigabytes) would stall every other tenant's objects or kill the pod; in a child it
costs at most RENDER_SECONDS of one child, which is then killed and replaced. Children are started
on first use and kept: one render is a pipe round trip, not a process start.

Protocol: one JSON line each way. Request {"templates": {...}, "values": {key: base64}}; answer
{"data": {key: base64}} or {"error": "<a message built by crypto.template, with no value in it>"}.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import resource
import sys
from collections import OrderedDict, deque
from typing import Any

from stashsync.crypto.template import TemplateRenderError, render

RENDER_SECONDS = 2.0  # a real template renders in milliseconds
MEMORY_BYTES = 512 * 1024 * 1024  # the child's address space; a runaway template hits MemoryError
STREAM_LIMIT = 8 * 1024 * 1024  # longest JSON line: 1 MiB of values, base64 and escaped, with room
REMEMBERED_FAILURES = 4096  # inputs known to exhaust a budget (64 bytes each)


class _Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def render(self, templates: dict[str, str], values: dict[str, bytes]) -> dict[str, bytes]:
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {"templates": templates, "values": {k: base64.b64encode(v).decode() for k, v in values.items()}}
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise EOFError
        answer = json.loads(line)
        if "error" in answer:
            raise TemplateRenderError(str(answer["error"]))
        return {k: base64.b64decode(v) for k, v in answer["data"].items()}

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()


class _FairSlots:
    """`size` slots handed out in turn per tenant (namespace): a tenant with many waiting renders gets
    one slot, then every other waiting tenant gets one, so its load delays others by about one render."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    async def acquire(self, tenant: str) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tenant, deque()).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed a slot just as it was cancelled: pass it on
            else:
                waiters = self._waiting.get(tenant)
                if waiters is not None and turn in waiters:
                    waiters.remove(turn)
                    if not waiters:
                        del self._waiting[tenant]
            raise

    def release(self) -> None:
        while self._waiting:
            tenant, waiters = next(iter(self._waiting.items()))
            turn = waiters.popleft()
            if waiters:
                self._waiting.move_to_end(tenant)  # its next render waits for every other tenant's turn
            else:
                del self._waiting[tenant]
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


def _inputs_digest(templates: dict[str, str], values: dict[str, bytes]) -> str:
    digest = hashlib.sha256(json.dumps(templates, sort_keys=True).encode())
    for key in sorted(values):
        digest.update(hashlib.sha256(key.encode()).digest() + hashlib.sha256(values[key]).digest())
    return digest.hexdigest()


class TemplateSandbox:
    """Up to `size` children; a render waits for a free one (so at most `size` CPUs go to templates),
    taking turns per tenant. Rendering is deterministic, so inputs that ran out of time or memory
    are remembered and answered at once: a hostile template costs its budget once, not every refresh."""

    def __init__(self, size: int = 2, seconds: float = RENDER_SECONDS) -> None:
        self.size = size
        self.seconds = seconds
        self._idle: list[_Child] = []
        self._slots = _FairSlots(size)
        self._exhausted: OrderedDict[str, str] = OrderedDict()  # inputs digest -> the error message

    async def _start(self) -> _Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stashsync.sandbox", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, limit=STREAM_LIMIT)
        return _Child(process)

    def _remember(self, digest: str, message: str) -> TemplateRenderError:
        self._exhausted[digest] = message
        while len(self._exhausted) > REMEMBERED_FAILURES:
            self._exhausted.popitem(last=False)
        return TemplateRenderError(message)

    async def render(self, templates: dict[str, str], values: dict[str, bytes], tenant: str = "") -> dict[str, bytes]:
        digest = _inputs_digest(templates, values)
        if digest in self._exhausted:
            raise TemplateRenderError(self._exhausted[digest])
        await self._slots.acquire(tenant)
        try:
            return await self._render_in_child(templates, values, digest)
        finally:
            self._slots.release()

    async def _render_in_child(self, templates: dict[str, str], values: dict[str, bytes],
                               digest: str) -> dict[str, bytes]:
        child = self._idle.pop() if self._idle else await self._start()
        try:
            result = await asyncio.wait_for(child.render(templates, values), self.seconds)
        except TemplateRenderError:
            self._idle.append(child)
            raise
        except TimeoutError:
            await child.kill()
            raise self._remember(digest, f"the template took longer than {self.seconds:g} s to render") from None
        except (EOFError, ValueError, OSError, KeyError):
            await child.kill()  # it died (out of memory, or the operator is stopping) or answered nonsense
            raise self._remember(digest, "the template renderer stopped before answering (a template that needs "
                                         "more than its memory budget does this)") from None
        except BaseException:  # cancelled mid-request: the child's answer would be read by the next caller
            await child.kill()
            raise
        self._idle.append(child)
        return result

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for child in idle:
            await child.kill()


def _serve() -> None:
    """The child: render requests from stdin until it closes."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    out = os.fdopen(sys.stdout.fileno(), "wb", buffering=0)
    for line in sys.stdin.buffer:
        request: dict[str, Any] = json.loads(line)
        try:
            data = render(request["templates"], {k: base64.b64decode(v) for k, v in request["values"].items()})
            answer: dict[str, Any] = {"data": {k: base64.b64encode(v).decode() for k, v in data.items()}}
        except TemplateRenderError as exc:
            answer = {"error": str(exc)}
        except MemoryError:
            answer = {"error": "the template builds more than its memory budget allows"}
        out.write(json.dumps(answer).encode() + b"\n")


if __name__ == "__main__":
    _serve()
