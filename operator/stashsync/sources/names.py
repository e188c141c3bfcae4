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
