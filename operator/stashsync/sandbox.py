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
import json
import os
import resource
import sys
from typing import Any

from stashsync.crypto.template import TemplateRenderError, render

RENDER_SECONDS = 2.0  # a real template renders in milliseconds
MEMORY_BYTES = 512 * 1024 * 1024  # the child's address space; a runaway template hits MemoryError
STREAM_LIMIT = 8 * 1024 * 1024  # longest JSON line: 1 MiB of values, base64 and escaped, with room


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


class TemplateSandbox:
    """Up to `size` children; a render waits for a free one (so at most `size` CPUs go to templates)."""

    def __init__(self, size: int = 2, seconds: float = RENDER_SECONDS) -> None:
        self.size = size
        self.seconds = seconds
        self._idle: list[_Child] = []
        self._slots = asyncio.Semaphore(size)

    async def _start(self) -> _Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stashsync.sandbox", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, limit=STREAM_LIMIT)
        return _Child(process)

    async def render(self, templates: dict[str, str], values: dict[str, bytes]) -> dict[str, bytes]:
        async with self._slots:
            child = self._idle.pop() if self._idle else await self._start()
            try:
                result = await asyncio.wait_for(child.render(templates, values), self.seconds)
            except TemplateRenderError:
                self._idle.append(child)
                raise
            except TimeoutError:
                await child.kill()
                raise TemplateRenderError(f"the template took longer than {self.seconds:g} s to render") from None
            except (EOFError, ValueError, OSError, KeyError):
                await child.kill()  # it died (out of memory, or the operator is stopping) or answered nonsense
                raise TemplateRenderError("the template renderer stopped before answering (a template that needs "
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
