"""What the CLI prints when a command fails in a way nobody foresaw."""

from __future__ import annotations

import argparse

import pytest

from stashsync.cli import credstash_cmds
from stashsync.cli.main import main


def test_an_unexpected_error_names_its_type_and_place_never_its_text(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def fails(_: argparse.Namespace) -> int:
        # As botocore words a parameter it refuses: the value inside the message.
        raise ValueError("Invalid type for parameter SecretString, value: hunter2-unexpected")

    monkeypatch.setattr(credstash_cmds, "list_credentials", fails)  # bound when the parser is built
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert err.count("\n") == 1
    assert err.startswith("stashsync: error: unexpected ValueError at tests.unit.test_cli_errors:")
