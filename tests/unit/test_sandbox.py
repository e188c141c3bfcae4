"""Templates render in child processes: a hostile one is killed at its time budget and the next
render still works (real child processes; nothing is faked)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

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


def test_tenants_take_turns_so_one_tenants_queue_delays_another_by_about_one_render() -> None:
    async def run() -> None:
        sandbox = TemplateSandbox(size=1, seconds=0.5)
        finished: list[str] = []

        async def render(tenant: str, label: str, template: str, value: bytes) -> None:
            with contextlib.suppress(TemplateRenderError):
                await sandbox.render({"k": template}, {"user": value}, tenant=tenant)
            finished.append(label)

        try:
            hostile = [asyncio.create_task(render("hostile", f"hostile-{i}", ENDLESS, b"x" * (2000 + i)))
                       for i in range(4)]
            await asyncio.sleep(0.1)  # the hostile renders are queued first
            await render("victim", "victim", "{{ user }}", b"ok")
            await asyncio.gather(*hostile)
        finally:
            await sandbox.close()
        assert finished.index("victim") <= 2  # after the render in progress and at most one more
    asyncio.run(run())


class _CountingSandbox(TemplateSandbox):
    started = 0

    async def _start(self) -> Any:
        self.started += 1
        return await super()._start()


def test_inputs_that_ran_out_of_time_are_answered_without_rendering_again() -> None:
    async def run() -> None:
        sandbox = _CountingSandbox(size=1, seconds=0.5)
        try:
            for _ in range(3):
                with pytest.raises(TemplateRenderError, match=r"longer than 0\.5 s"):
                    await sandbox.render({"k": ENDLESS}, {"user": b"x" * 2000})
            assert sandbox.started == 1  # one child spent its budget; the repeats started none
            with pytest.raises(TemplateRenderError):  # other inputs are rendered, not guessed
                await sandbox.render({"k": ENDLESS}, {"user": b"y" * 2000})
            assert sandbox.started == 2
        finally:
            await sandbox.close()
    asyncio.run(run())


def test_a_tenants_runaway_renders_hold_one_child_and_its_memory_budget_only() -> None:
    """Filters take any width ("x"|center(350000000)): the child's memory budget stops them, and a
    tenant renders in one child at a time, so another tenant's render runs beside them."""
    async def run() -> None:
        sandbox = TemplateSandbox(size=2, seconds=2.0)
        hog = '{% for c in "x"|center(350000000) %}{% endfor %}{{ user }}'
        try:
            hostile = [asyncio.create_task(sandbox.render({"k": hog}, {"user": str(i).encode()}, tenant="hostile"))
                       for i in range(3)]
            await asyncio.sleep(0.05)
            assert await asyncio.wait_for(sandbox.render({"k": "{{ user }}"}, {"user": b"ok"}, tenant="victim"),
                                          2.5) == {"k": b"ok"}
            results = await asyncio.gather(*hostile, return_exceptions=True)
            assert all(isinstance(r, TemplateRenderError) for r in results)
        finally:
            await sandbox.close()
    asyncio.run(run())


def test_patterns_compile_in_the_child_and_the_refused_ones_are_named_by_index() -> None:
    async def run() -> None:
        sandbox = TemplateSandbox(size=1)
        try:
            assert await sandbox.refused_patterns(["app/*", "/(/", "/" + "[a-z]{0,1000}" * 30 + "/", "/^ok$/"]) \
                == [1, 2]
        finally:
            await sandbox.close()
    asyncio.run(run())
