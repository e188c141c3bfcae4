"""Templates run in child processes with a time and memory budget, off the operator's event loop:
rendered for a sync, and parsed for the admission webhook.

A template is written by a tenant. In the operator's own process a hostile one (a loop that never
ends, a string of gigabytes, a huge text to parse) would stall every other tenant's objects or kill
the pod; in a child it costs at most RENDER_SECONDS of one child, which is then killed and replaced.
Children are started on first use and kept: one render is a pipe round trip, not a process start.

Protocol: one JSON line each way. Requests {"templates": {...}, "values": {key: base64}} (render),
{"templates": {...}, "keys": [...]} (the keys the templates name that are not among `keys`) or
{"patterns": [...]} (which dataFrom patterns do not compile); answers {"data": {key: base64}},
{"unknown": {template key: [names]}}, {"refused": [indexes]} or {"error": "<a message built by
crypto.template, with no value in it>"}.
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
from collections import OrderedDict
from typing import Any

from stashsync.api.patterns import PatternError, compile_pattern
from stashsync.crypto.template import TemplateRenderError, render, unknown_keys
from stashsync.fairness import FairSlots

RENDER_SECONDS = 2.0  # a real template renders in milliseconds
# The child's address space (an idle child maps about 30 MiB): a runaway template hits MemoryError. The
# operator's container holds the operator and every child at once (the chart's limit is 512 MiB), so
# this budget times the children must leave the operator its room.
MEMORY_BYTES = 96 * 1024 * 1024
STREAM_LIMIT = 8 * 1024 * 1024  # longest JSON line: 1 MiB of values, base64 and escaped, with room
REMEMBERED_FAILURES = 4096  # inputs known to exhaust a budget (64 bytes each)


class _Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise EOFError
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise TemplateRenderError(str(answer["error"]))
        return answer

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()


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
        # Renders take turns per tenant (namespace), one child at a time each: a tenant's runaway
        # templates use one child's memory budget, never all of them.
        self._slots = FairSlots(size, per_tenant=1)
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
        request = {"templates": templates, "values": {k: base64.b64encode(v).decode() for k, v in values.items()}}
        answer = await self._ask(request, digest, tenant)
        return {k: base64.b64decode(v) for k, v in answer["data"].items()}

    async def unknown_keys(self, templates: dict[str, str], keys: set[str], tenant: str = "") -> dict[str, set[str]]:
        """crypto.template.unknown_keys, parsed in a child."""
        digest = _inputs_digest(templates, {k: b"" for k in keys})
        answer = await self._ask({"templates": templates, "keys": sorted(keys)}, digest, tenant)
        return {k: set(v) for k, v in answer["unknown"].items()}

    async def refused_patterns(self, patterns: list[str], tenant: str = "") -> list[int]:
        """The indexes of the dataFrom patterns that do not compile (api.patterns), compiled in a child."""
        digest = hashlib.sha256(json.dumps(patterns).encode()).hexdigest()
        answer = await self._ask({"patterns": patterns}, digest, tenant, "checking the dataFrom patterns")
        return [int(i) for i in answer["refused"]]

    async def _ask(self, request: dict[str, Any], digest: str, tenant: str,
                   what: str = "rendering the template") -> dict[str, Any]:
        if digest in self._exhausted:
            raise TemplateRenderError(self._exhausted[digest])
        async with self._slots.slot(tenant):
            return await self._ask_child(request, digest, what)

    async def _ask_child(self, request: dict[str, Any], digest: str, what: str) -> dict[str, Any]:
        child = self._idle.pop() if self._idle else await self._start()
        try:
            answer = await asyncio.wait_for(child.ask(request), self.seconds)
        except TemplateRenderError:
            self._idle.append(child)
            raise
        except TimeoutError:
            await child.kill()
            raise self._remember(digest, f"{what} took longer than {self.seconds:g} s") from None
        except (EOFError, ValueError, OSError, KeyError):
            await child.kill()  # it died (out of memory, or the operator is stopping) or answered nonsense
            raise self._remember(digest, f"{what} stopped before answering (what needs more than the child's "
                                         "memory budget does this)") from None
        except BaseException:  # cancelled mid-request: the child's answer would be read by the next caller
            await child.kill()
            raise
        self._idle.append(child)
        return answer

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for child in idle:
            await child.kill()


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    if "patterns" in request:
        return {"refused": [i for i, p in enumerate(request["patterns"]) if not _compiles(p)]}
    if "keys" in request:
        unknown = unknown_keys(request["templates"], set(request["keys"]))
        return {"unknown": {k: sorted(v) for k, v in unknown.items()}}
    data = render(request["templates"], {k: base64.b64decode(v) for k, v in request["values"].items()})
    return {"data": {k: base64.b64encode(v).decode() for k, v in data.items()}}


def _compiles(pattern: str) -> bool:
    try:
        compile_pattern(pattern)
    except PatternError:
        return False
    return True


def _serve() -> None:
    """The child: requests from stdin until it closes."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    out = os.fdopen(sys.stdout.fileno(), "wb", buffering=0)
    for line in sys.stdin.buffer:
        try:
            answer = _answer(json.loads(line))
        except TemplateRenderError as exc:
            answer = {"error": str(exc)}
        except MemoryError:
            answer = {"error": "the template builds more than its memory budget allows"}
        out.write(json.dumps(answer).encode() + b"\n")


if __name__ == "__main__":
    _serve()
