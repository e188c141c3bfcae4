"""The operator's modules import in one direction: no import circle, not even one only the type
checker follows, and the pure rooms (crypto/, errors, reasons) import no I/O room."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "stashsync"
IO_ROOMS = ("stashsync.kube", "stashsync.aws", "stashsync.sources", "stashsync.controllers", "stashsync.cli")


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stashsync"):
                for alias in node.names:  # `from stashsync.x import y` may name a module y
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("stashsync"))
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_circle() -> None:
    graph = _imports()
    # a package's __init__ importing its own modules is how Python packages work, not a layering circle
    graph = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph.items()}
    assert _cycle(graph) is None


def test_pure_rooms_import_no_io_room() -> None:
    graph = _imports()
    for name, deps in graph.items():
        if name.startswith("stashsync.crypto") or name in ("stashsync.errors", "stashsync.reasons"):
            assert not {d for d in deps if d.startswith(IO_ROOMS)}, name
