"""Name patterns for dataFrom.find: shell globs, or regular expressions written as /regex/."""

from __future__ import annotations

import fnmatch
import re


class PatternError(ValueError):
    pass


def compile_pattern(pattern: str) -> re.Pattern[str]:
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        try:
            return re.compile(pattern[1:-1])
        except re.error as exc:
            raise PatternError(f"invalid regular expression {pattern!r}: {exc}") from None
    return re.compile(fnmatch.translate(pattern))


def matching(names: list[str], pattern: str) -> list[str]:
    compiled = compile_pattern(pattern)
    return sorted({n for n in names if compiled.fullmatch(n)})


def literal_prefix(pattern: str) -> str:
    """The fixed text a glob starts with ("app/db-*" -> "app/db-"), for server-side prefix filters.
    Regular expressions give "" (no safe prefix)."""
    if pattern.startswith("/") and pattern.endswith("/") and len(pattern) >= 2:
        return ""
    cut = min((i for i, c in enumerate(pattern) if c in "*?["), default=len(pattern))
    return pattern[:cut]
