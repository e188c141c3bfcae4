"""What every command reads the same way: the AWS region, a value (inline, '-' for standard input,
@FILE), NAME=VALUE pairs."""

from __future__ import annotations

import sys

from stashsync.aws.clients import AwsAuth, AwsClients, env_region
from stashsync.cli.errors import CliError


def clients(region: str | None) -> AwsClients:
    """Clients for `-r REGION`, else the region the environment names."""
    found = region or env_region()
    if not found:
        raise CliError("no AWS region: pass -r REGION or set AWS_DEFAULT_REGION")
    return AwsClients(AwsAuth(region=found))


def read_value(value: str) -> bytes:
    if value == "-":
        return sys.stdin.buffer.read()
    if value.startswith("@"):
        try:
            with open(value[1:], "rb") as f:
                return f.read()
        except OSError as exc:
            raise CliError(f"cannot read {value[1:]}: {exc.strerror}") from None
    return value.encode()


def pairs(items: list[str], what: str, allow_empty_value: bool = False) -> dict[str, str]:
    """NAME=VALUE items as a dict; `what` names them in the error (a flag, or "context")."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not (value or allow_empty_value):
            raise CliError(f"{what} takes NAME=VALUE pairs, got {item!r}")
        out[key] = value
    return out
