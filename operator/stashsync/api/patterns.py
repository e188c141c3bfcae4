"""Name patterns for dataFrom.find: shell globs, or regular expressions written as /regex/.

A pattern is written by a tenant. Regular expressions run on RE2 (linear time, bounded memory), so
`/(.*.*)*y/` cannot hold the operator for seconds as Python's backtracking engine would; globs are
translated by fnmatch, whose output does not backtrack either."""

from __future__ import annotations

import fnmatch
import re
from typing import Protocol

import re2

from stashsync.errors import SpecError

MAX_PATTERN_LENGTH = 512  # also the CRD's maxLength
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is reported in the object's condition, not on stderr
_RE2_OPTIONS.max_mem = 8 << 20  # bytes for one compiled pattern


class _Pattern(Protocol):
    def fullmatch(self, text: str) -> object: ...


class PatternError(SpecError):
    """dataFrom.find names no usable pattern."""


def compile_pattern(pattern: str, where: str = "a dataFrom.find pattern") -> _Pattern:
    """`where` names the pattern in an error; the pattern itself never appears in one (it is a tenant's
    text, and the message goes to statuses, events and logs)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"{where} may hold at most {MAX_PATTERN_LENGTH} characters")
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        try:
            return re2.compile(pattern[1:-1], _RE2_OPTIONS)
        except re2.error:
            raise PatternError(f"{where} is not a valid regular expression (RE2 syntax: no backreferences or "
                               "lookaround)") from None
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
