"""Every reason the operator can report is declared once (reasons.py), and the README shows that list."""

from __future__ import annotations

import re
from pathlib import Path

from hack.render_docs import README, render

from stashsync import errors
from stashsync.reasons import REASONS, Retry, retry_of

OPERATOR = Path(__file__).resolve().parents[2] / "operator" / "stashsync"
# reason="X", reason = "X", and the literal reasons passed to _report / _announce / events.
USED = re.compile(r'reason\s*=\s*"([A-Z]\w+)"|(?:_report\(|events\.\w+\()[^"\n]*"([A-Z][a-z]\w+)"')


def test_every_reason_the_code_uses_is_declared() -> None:
    used = {a or b for path in OPERATOR.rglob("*.py") for a, b in USED.findall(path.read_text())}
    assert used, "the pattern found nothing: it no longer matches how reasons are written"
    # events that are not conditions; the Lambda's own answer
    undeclared = used - set(REASONS) - {"RolloutRestarted", "RestartNotAllowed", "BadRequest"}
    assert not undeclared


def test_readme_lists_the_declared_reasons() -> None:
    text = README.read_text()
    assert render(text) == text, "README.md's reasons table is stale: run `make docs`"


def test_retry_policy_is_carried_by_the_error() -> None:
    assert errors.SpecError("bad").retry == Retry.ON_CHANGE
    assert errors.StashError("gone", reason="SecretLost").retry == Retry.NEVER
    assert errors.StashError("busy", reason="Throttled").retry == Retry.BACKOFF
    assert retry_of("SomethingNew") == Retry.BACKOFF  # undeclared: treated as transient, never as final
