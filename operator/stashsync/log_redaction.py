"""Redaction at the logging layer: wrap tokens and Secret data never reach a log line, at any level.

kopf logs whole bodies and diffs at debug level (`stashsync run --verbose`): "Creation is in progress:
{body!r}", "... diff: (('add', ('spec', 'token'), None, '<token>'),)". A WrappedSecret's
spec.token is a bearer credential, and a Secret body's data are values. Every record passes through
`RedactingFilter` on the root handlers, whoever logged it.
"""

from __future__ import annotations

import logging
import re

REDACTED = "<redacted>"
_SECRET_FIELDS = ("token", "data", "stringData", "value", "plaintext")
_QUOTED = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|b'(?:[^'\\]|\\.)*'"""
# 'token': '...' / "data": {...} in a repr or JSON text (a flat mapping; nested ones are caught below).
_NAMES = "|".join(_SECRET_FIELDS)
_FIELD = re.compile(rf"""(?P<key>['"](?:{_NAMES})['"]\s*:\s*)(?P<value>{_QUOTED}|\{{[^{{}}]*\}})""")
# kopf's diff entries: ('change', ('spec', 'token'), '<old>', '<new>').
_DIFF = re.compile(rf"""(?P<head>\(\s*'(?:add|change|remove)',\s*\((?:\s*'[^']*',)*\s*'(?:{_NAMES})',?\s*\),)"""
                   rf"""(?P<rest>(?:\s*(?:{_QUOTED}|None),?)*)""")
# Belt and braces: a long run of token or base64 characters is a credential far more often than not.
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=]{100,}")


def redact(text: str) -> str:
    text = _FIELD.sub(lambda m: m.group("key") + repr(REDACTED), text)
    text = _DIFF.sub(lambda m: m.group("head") + f" {REDACTED!r}", text)
    return _LONG_TOKEN.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when set: an exception's text may quote a body too.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def install() -> None:
    """On every handler of the root logger (kopf.configure adds its own there) and of kopf's object
    logger (its handler posts WARNING records as Kubernetes Events)."""
    for name in ("", "kopf.objects"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
