"""Wrap tokens and Secret data never reach a log line, whatever kopf formats into it."""

from __future__ import annotations

import io
import logging

from stashsync.api import API_VERSION
from stashsync.log_redaction import RedactingFilter, redact

TOKEN = "-Ab3_" + "x9Y" * 55  # an awswrap token: token_urlsafe(128), 171 characters


def test_bodies_diffs_and_patches_lose_their_tokens_and_data() -> None:
    body = {"apiVersion": API_VERSION, "kind": "WrappedSecret",
            "spec": {"storeRef": {"name": "w"}, "token": "short-tok"}, "status": {}}
    diff: tuple[tuple[object, ...], ...] = (("add", ("spec", "token"), None, "short-tok"),
                                            ("change", ("spec",), {"token": "short-tok"}, {}))
    secret = {"kind": "Secret", "data": {"password": "aHVudGVyMg=="}, "stringData": {"p": "hunter2"}}
    for text in (f"Creation is in progress: {body!r}", f"Update diff: {diff!r}", f"patch: {secret!r}",
                 "json: {\"token\": \"short-tok\", \"x\": 1}", f"raw {TOKEN} end"):
        cleaned = redact(text)
        for secret_text in ("short-tok", "aHVudGVyMg==", "hunter2", TOKEN):
            assert secret_text not in cleaned, (text, cleaned)
    assert redact("Handler 'unwrap' succeeded.") == "Handler 'unwrap' succeeded."


def test_the_filter_redacts_formatted_messages_and_exception_text() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("test-redaction")
    log.addHandler(handler)
    log.propagate = False
    log.warning("body: %r", {"spec": {"token": "short-tok"}})
    try:
        raise ValueError(f"bad body {{'token': 'short-tok'}} {TOKEN}")
    except ValueError:
        log.exception("failed")
    assert "short-tok" not in stream.getvalue() and TOKEN not in stream.getvalue()
    assert "<redacted>" in stream.getvalue()
