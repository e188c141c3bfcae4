"""Render README.md's reasons table from operator/stashsync/reasons.py (`make docs`; a unit test
checks it is current)."""

from __future__ import annotations

import re
from pathlib import Path

from stashsync.reasons import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- reasons: rendered by hack/render_docs.py -->\n)(.*?)(<!-- /reasons -->)", re.S)


def render(text: str) -> str:
    if not BLOCK.search(text):
        raise SystemExit("README.md has no reasons block")
    return BLOCK.sub(lambda m: m.group(1) + markdown_table() + m.group(3), text)


if __name__ == "__main__":
    README.write_text(render(README.read_text()))
