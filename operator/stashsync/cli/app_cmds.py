"""`stashsync decrypt` and `stashsync exec`: the application side of spec.encryption.kms."""

from __future__ import annotations

import argparse
import os
import sys

from stashsync.app_decrypt import decrypt_environ, decrypt_value, read_identities
from stashsync.cli import inputs
from stashsync.cli.errors import CliError


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--namespace", default=os.environ.get("POD_NAMESPACE") or os.environ.get("STASHSYNC_NAMESPACE"),
                       help="namespace of the Secret (default: POD_NAMESPACE or STASHSYNC_NAMESPACE)")
    where.add_argument("--secret", default=os.environ.get("STASHSYNC_SECRET"),
                       help="name of the Secret the values come from (default: STASHSYNC_SECRET)")
    where.add_argument("--identity", default=os.environ.get("STASHSYNC_AGE_IDENTITY_FILE"),
                       help="age identity file, for age envelopes (default: STASHSYNC_AGE_IDENTITY_FILE)")

    p = sub.add_parser("decrypt", parents=[where], help="print the plaintext of an envelope")
    p.add_argument("--key", required=True, help="the Secret key the value comes from")
    p.add_argument("value", nargs="?", default="-", help="the envelope, '-' for standard input, @FILE for a file")
    p.set_defaults(func=decrypt)

    p = sub.add_parser("exec", parents=[where], help="decrypt envelopes in the environment, then exec a command")
    p.add_argument("--map", action="append", default=[], metavar="VAR=KEY",
                   help="the Secret key of VAR, when it is not VAR itself (repeatable)")
    p.add_argument("--rename", action="append", default=[], metavar="FROM=TO",
                   help="expose the plaintext of FROM as TO, e.g. ENCRYPTED_DB_PASSWORD=DB_PASSWORD (repeatable)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    p.set_defaults(func=exec_command)


def _where(args: argparse.Namespace) -> tuple[str, str]:
    if not args.namespace:
        raise CliError("no namespace: pass --namespace or set POD_NAMESPACE (downward API)")
    if not args.secret:
        raise CliError("no Secret name: pass --secret or set STASHSYNC_SECRET")
    return args.namespace, args.secret


def _identities(args: argparse.Namespace) -> list[str] | None:
    if not args.identity:
        return None
    try:
        found = read_identities(args.identity)
    except OSError as exc:
        raise CliError(f"cannot read {args.identity}: {exc.strerror}") from None
    if not found:
        raise CliError(f"{args.identity} holds no AGE-SECRET-KEY-1 line")
    return found


def decrypt(args: argparse.Namespace) -> int:
    namespace, secret = _where(args)
    value = inputs.read_value(args.value).decode(errors="replace")
    sys.stdout.buffer.write(decrypt_value(value.strip(), namespace, secret, args.key, identities=_identities(args)))
    sys.stdout.buffer.write(b"\n")
    return 0


def exec_command(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise CliError("give the command to run after --")
    namespace, secret = _where(args)
    try:
        env = decrypt_environ(os.environ, namespace, secret, inputs.pairs(args.map, "--map"),
                              inputs.pairs(args.rename, "--rename"), identities=_identities(args))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        os.execvpe(command[0], command, env)  # noqa: S606 - replacing this process is the point
    except OSError as exc:
        raise CliError(f"cannot run {command[0]!r}: {exc.strerror}") from None
    return 0  # not reached
