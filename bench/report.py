"""Where every benchmark's figures go: docs/benchmarks/NAME.md, printed as well. No heavy imports:
child processes of the memory benchmarks load this module too."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"


def write_report(name: str, lines: list[str]) -> Path:
    """Write the lines as docs/benchmarks/NAME.md (ending in one newline) and print them."""
    text = "\n".join(lines).rstrip("\n") + "\n"
    DOCS.mkdir(parents=True, exist_ok=True)
    target = DOCS / f"{name}.md"
    target.write_text(text)
    print(text, end="")
    return target
