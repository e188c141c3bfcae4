"""target.template rendering: a sandboxed Jinja2 environment, no code execution, no file access.

Templates see each credential as a variable named by its Secret key (keys with '-' or '.' are
reachable through the `data` mapping: {{ data["db-password"] }}). Undefined names are errors, so a
typo fails the sync instead of writing an empty value.

Templates see secret values, and their text may itself be secret (a template kept in a Secret), so
an error message is built only from what the operator knows: the output key, the line, the error's
class and the credential keys the template may use. Never the library's text (`{{ data[password] }}`
makes Jinja say "'dict object' has no attribute '<the password>'", a syntax error quotes the source)
and never a name taken from the template. Output is capped while it is produced; the time and memory
bounds are the caller's (stashsync.sandbox runs this in a child process).
"""

from __future__ import annotations

import base64
import json
import traceback
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from stashsync.errors import StashError

MAX_OUTPUT_BYTES = 1024 * 1024  # a Secret holds at most 1 MiB
MAX_REPEAT = 64 * 1024  # longest string or list a `*` may build inside a template
MAX_INT_BITS = 4096  # largest integer a `**` may build


class TemplateRenderError(StashError):
    reason = "TemplateError"


def _b64enc(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _b64dec(value: str) -> str:
    return base64.b64decode(value).decode()


class _BoundedEnvironment(ImmutableSandboxedEnvironment):
    """`"a" * 10**9` or `9 ** 9 ** 9` would take the memory or CPU of the whole process: refuse the
    operands before Python computes them."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left).bit_length() * abs(right) > MAX_INT_BITS:
                raise OverflowError("power too large")
            return left ** right
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int) and len(seq) * count > MAX_REPEAT:
                raise OverflowError("repetition too large")
        return left * right


_ENV = _BoundedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_ENV.filters.update({"b64enc": _b64enc, "b64dec": _b64dec, "tojson": json.dumps, "fromjson": json.loads})
_ENV.globals.clear()


def _line(exc: BaseException) -> int | None:
    """The template line an error was raised at (Jinja rewrites tracebacks to point into the template)."""
    if isinstance(exc, TemplateSyntaxError):
        return exc.lineno
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
    return lines[-1] if lines else None


MAX_NAMED_KEYS = 20  # credential keys listed in an error, so a typo can be spotted


def _known_keys(variables: dict[str, object]) -> str:
    """The credential keys (validated Secret keys, never values) a template may use."""
    data = variables.get("data")
    keys = sorted(str(k) for k in data) if isinstance(data, dict) else []
    shown = ", ".join(keys[:MAX_NAMED_KEYS]) + (f" and {len(keys) - MAX_NAMED_KEYS} more" if len(keys) > MAX_NAMED_KEYS
                                                else "")
    return shown or "none"


def _describe(key: str, exc: BaseException, variables: dict[str, object]) -> str:
    where = f"template for key {key!r}"
    line = _line(exc)
    if line is not None:
        where += f", line {line}"
    if isinstance(exc, TemplateSyntaxError):
        return f"{where}: syntax error (the template's text is not repeated here)"
    if type(exc).__name__ == "UndefinedError":
        return (f"{where}: uses a name, key or attribute that is not defined; credentials are named by their "
                f"data key (here: {_known_keys(variables)})")
    if isinstance(exc, TemplateError):
        return f"{where}: a template error ({type(exc).__name__}); its message is withheld: it may contain a value"
    if isinstance(exc, OverflowError | MemoryError):
        return f"{where}: the template builds too much ({type(exc).__name__})"
    return f"{where}: a filter or operation failed ({type(exc).__name__})"


def render(templates: dict[str, str], values: dict[str, bytes],
           max_output: int = MAX_OUTPUT_BYTES) -> dict[str, bytes]:
    text_values = {k: v.decode("utf-8", errors="replace") for k, v in values.items()}
    variables: dict[str, object] = {k: v for k, v in text_values.items() if k.isidentifier()}
    variables["data"] = text_values
    out: dict[str, bytes] = {}
    budget = max_output
    for key, source in templates.items():
        try:
            parts: list[str] = []
            size = 0
            for chunk in _ENV.from_string(source).generate(variables):
                size += len(chunk)
                if size > budget:
                    raise TemplateRenderError(f"template for key {key!r}: the output exceeds {max_output} bytes")
                parts.append(chunk)
            out[key] = "".join(parts).encode()
            budget -= len(out[key])
        except TemplateRenderError:
            raise
        except RecursionError:
            raise TemplateRenderError(f"template for key {key!r}: nested too deeply") from None
        except Exception as exc:  # any library error may carry a value: describe it, never repeat it
            raise TemplateRenderError(_describe(key, exc, variables)) from None
    return out


def unknown_keys(templates: dict[str, str], keys: set[str]) -> dict[str, set[str]]:
    """For each template, the credential keys it names (as a variable or data["key"]) that are not
    in `keys`: caught at admission, before a sync would fail on them. Raises TemplateRenderError for
    a template that does not parse."""
    unknown: dict[str, set[str]] = {}
    for key, source in templates.items():
        try:
            tree = _ENV.parse(source)
        except TemplateSyntaxError as exc:
            raise TemplateRenderError(f"template for key {key!r}, line {exc.lineno}: syntax error") from None
        except TemplateError as exc:
            raise TemplateRenderError(f"template for key {key!r}: {type(exc).__name__}") from None
        names = meta.find_undeclared_variables(tree) - {"data"}
        names |= {str(node.arg.value) for node in tree.find_all(nodes.Getitem)
                  if isinstance(node.node, nodes.Name) and node.node.name == "data"
                  and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str)}
        missing = names - keys
        if missing:
            unknown[key] = missing
    return unknown
