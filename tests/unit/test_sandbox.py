"""Templates render in child processes: a hostile one is killed at its time budget and the next
render still works (real child processes; nothing is faked)."""

from __future__ import annotations

import asyncio

import pytest

from stashsync.crypto.template import TemplateRenderError
from stashsync.sandbox import TemplateSandbox

ENDLESS = "{% for a in user %}{% for b in user %}{% for c in user %}{% for d in user %}{% endfor %}" \
          "{% endfor %}{% endfor %}{% endfor %}"


def test_an_endless_template_is_stopped_and_the_sandbox_keeps_serving() -> None:
    async def run() -> None:
        sandbox = TemplateSandbox(size=1, seconds=1.0)
        try:
            with pytest.raises(TemplateRenderError, match="longer than 1 s"):
                await sandbox.render({"k": ENDLESS}, {"user": b"x" * 2000})
            assert await sandbox.render({"k": "{{ user }}!"}, {"user": b"ok"}) == {"k": b"ok!"}
        finally:
            await sandbox.close()
    asyncio.run(run())


def test_errors_come_back_without_the_value_and_renders_run_side_by_side() -> None:
    async def run() -> None:
        sandbox = TemplateSandbox(size=2)
        try:
            with pytest.raises(TemplateRenderError) as caught:
                await sandbox.render({"k": "{{ data[user] }}"}, {"user": b"hunter2-value"})
            assert "hunter2" not in str(caught.value)
            results = await asyncio.gather(*[sandbox.render({"k": "{{ v }}"}, {"v": str(i).encode()})
                                             for i in range(6)])
            assert [r["k"] for r in results] == [str(i).encode() for i in range(6)]
        finally:
            await sandbox.close()
    asyncio.run(run())
