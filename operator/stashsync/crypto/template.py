"""target.template rendering: a sandboxed Jinja2 environment, no code execution, no file access.

Templates see each credential as a variable named by its Secret key (keys with '-' or '.' are
reachable through the `data` mapping: {{ data["db-password"] }}). Undefined names are errors, so a
typo fails the sync instead of writing an empty value.
"""

from __future__ import annotations

import base64
import json

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment


class TemplateRenderError(Exception):
    pass


def _b64enc(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _b64dec(value: str) -> str:
    return base64.b64decode(value).decode()


_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_ENV.filters.update({"b64enc": _b64enc, "b64dec": _b64dec, "tojson": json.dumps, "fromjson": json.loads})
_ENV.globals.clear()


def render(templates: dict[str, str], values: dict[str, bytes]) -> dict[str, bytes]:
    text_values = {k: v.decode("utf-8", errors="replace") for k, v in values.items()}
    variables: dict[str, object] = {k: v for k, v in text_values.items() if k.isidentifier()}
    variables["data"] = text_values
    out: dict[str, bytes] = {}
    for key, source in templates.items():
        try:
            out[key] = _ENV.from_string(source).render(variables).encode()
        except TemplateError as exc:
            # The message names the template problem (e.g. an undefined variable), never a value.
            raise TemplateRenderError(f"template for key {key!r}: {exc.message or type(exc).__name__}") from None
        except (ValueError, TypeError, LookupError) as exc:
            # From filters applied to values (e.g. fromjson): name the failure, not the value.
            raise TemplateRenderError(f"template for key {key!r}: a filter failed ({type(exc).__name__})") from None
    return out


def unknown_keys(templates: dict[str, str], keys: set[str]) -> dict[str, set[str]]:
    """For each template, the credential keys it names (as a variable or data["key"]) that are not
    in `keys`: caught at admission, before a sync would fail on them. Raises TemplateRenderError for
    a template that does not parse."""
    unknown: dict[str, set[str]] = {}
    for key, source in templates.items():
        try:
            tree = _ENV.parse(source)
        except TemplateError as exc:
            raise TemplateRenderError(f"template for key {key!r}: {exc.message or type(exc).__name__}") from None
        names = meta.find_undeclared_variables(tree) - {"data"}
        names |= {str(node.arg.value) for node in tree.find_all(nodes.Getitem)
                  if isinstance(node.node, nodes.Name) and node.node.name == "data"
                  and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str)}
        missing = names - keys
        if missing:
            unknown[key] = missing
    return unknown
