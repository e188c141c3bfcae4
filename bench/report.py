"""Where every benchmark's figures go: docs/benchmarks/NAME.md, printed as well. No heavy imports:
child processes of the memory benchmarks load this module too."""

from __future__ import annotations

import time
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
STARTED = time.monotonic()  # each benchmark is its own process, which imports this as it starts


def write_report(name: str, lines: list[str]) -> Path:
    """Write the lines as docs/benchmarks/NAME.md (ending in one newline), with how long the
    benchmark ran (what `make bench` costs, benchmark by benchmark), and print them."""
    minutes, seconds = divmod(round(time.monotonic() - STARTED), 60)
    text = "\n".join(lines).rstrip("\n") + f"\n\nThis benchmark ran for {minutes} min {seconds:02d} s.\n"
    DOCS.mkdir(parents=True, exist_ok=True)
    target = DOCS / f"{name}.md"
    target.write_text(text)
    print(text, end="")
    return target
