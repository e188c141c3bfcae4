"""Name patterns for dataFrom.find: shell globs, or regular expressions written as /regex/.

A pattern is written by a tenant. Regular expressions run on RE2 (linear time, bounded memory), so
`/(.*.*)*y/` cannot hold the operator for seconds as Python's backtracking engine would; globs are
translated by fnmatch, whose output does not backtrack either. Compiling is not linear in a pattern's
length, though (counted repeats expand: `[a-z]{0,1000}` thirty times took seconds): RE2's program is
capped (MAX_PROGRAM_BYTES), so no pattern compiles for long, and patterns are compiled in worker
threads (in the tenant's share), never on the event loop; compiled ones are kept for reuse."""

from __future__ import annotations

import fnmatch
import functools
import re
from typing import Protocol

import re2

from stashsync.errors import SpecError

MAX_PATTERN_LENGTH = 512  # also the CRD's maxLength
# RE2's memory for one compiled pattern. Compiling takes time in proportion: at this cap an accepted
# pattern compiles in tens of milliseconds at most (at 256 KiB one took a third of a second), and
# realistic ones (`[a-z0-9-]{1,63}/(db|cache)-password`) fit far below it.
MAX_PROGRAM_BYTES = 64 * 1024
KEPT_PATTERNS = 512  # compiled patterns kept for reuse, the least recently used going first
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is reported in the object's condition, not on stderr
_RE2_OPTIONS.max_mem = MAX_PROGRAM_BYTES


class _Pattern(Protocol):
    def fullmatch(self, text: str) -> object: ...


class PatternError(SpecError):
    """dataFrom.find names no usable pattern."""


def check_length(pattern: str, where: str = "a dataFrom.find pattern") -> None:
    """What can be checked of a pattern without compiling it (a cheap check, for the event loop)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"{where} may hold at most {MAX_PATTERN_LENGTH} characters")


def compile_pattern(pattern: str, where: str = "a dataFrom.find pattern") -> _Pattern:
    """`where` names the pattern in an error; the pattern itself never appears in one (it is a tenant's
    text, and the message goes to statuses, events and logs). Blocking: call it in a worker thread."""
    check_length(pattern, where)
    compiled = _compiled(pattern)
    if compiled is None:
        raise PatternError(f"{where} is not a valid regular expression, or compiles to more than RE2 may use "
                           "(RE2 syntax: no backreferences or lookaround; fewer or smaller counted repeats)")
    return compiled


@functools.lru_cache(maxsize=KEPT_PATTERNS)
def _compiled(pattern: str) -> _Pattern | None:
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        try:
            return re2.compile(pattern[1:-1], _RE2_OPTIONS)
        except re2.error:
            return None  # kept too: a refused pattern costs its compile once
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
