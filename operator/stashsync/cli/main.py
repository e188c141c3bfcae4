"""`stashsync`: run the operator, or work with credential tables like credstash does."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys

from stashsync import __version__, log_levels, log_redaction
from stashsync.cli import app_cmds, credstash_cmds, refresh_cmd, wrap_cmds
from stashsync.cli.errors import CliError
from stashsync.crypto import wrap as wrapfmt
from stashsync.errors import StashError


def build_parser() -> argparse.ArgumentParser:
    # Table flags are accepted before or after the command, as credstash users type them.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-r", "--region", default=argparse.SUPPRESS, help="AWS region (default from environment)")
    common.add_argument("-t", "--table", default=argparse.SUPPRESS, help="credential table (default credential-store)")
    parser = argparse.ArgumentParser(prog="stashsync", description=__doc__)
    parser.add_argument("--version", action="version", version=f"stashsync {__version__}")
    parser.add_argument("-r", "--region", default=None, help=argparse.SUPPRESS)
    parser.add_argument("-t", "--table", default=None, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the operator (kopf) against the current cluster")
    run.add_argument("-n", "--namespace", action="append", default=[],
                     help="watch only this namespace (repeatable; default: the whole cluster, "
                          "or STASHSYNC_WATCH_NAMESPACES)")
    run.add_argument("--liveness", default=os.environ.get("STASHSYNC_LIVENESS", ""),
                     help="serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--log-format", choices=["json", "plain"], default=os.environ.get("STASHSYNC_LOG_FORMAT", "json"))
    run.add_argument("--peering", default=os.environ.get("STASHSYNC_PEERING", ""),
                     help="run as one of several replicas: only the highest-priority one with this peering name acts "
                          "(kopf peering; needs a ClusterKopfPeering, or KopfPeerings in watched namespaces)")
    run.add_argument("--priority", type=int, default=int(os.environ.get("STASHSYNC_PRIORITY", "0")) or None,
                     help="peering priority (default: random, so replicas of one Deployment never tie)")
    run.add_argument("--verbose", action="store_true")
    run.set_defaults(func=run_operator)

    credstash_cmds.add_commands(sub, common)
    wrap_cmds.add_commands(sub)
    app_cmds.add_commands(sub)
    refresh_cmd.add_commands(sub)
    return parser


def shield_tokens(argv: list[str]) -> list[str]:
    """aws-secrets-wrapper's tokens start with '-' about once in 64: after `unwrap`, such an argument
    is the token, not an option (argparse would refuse it, and echo it in the error)."""
    if "unwrap" not in argv or "--" in argv:
        return argv
    at = argv.index("unwrap")
    for i in range(at + 1, len(argv)):
        if argv[i].startswith("-") and wrapfmt.looks_like_token(argv[i]):
            return [*argv[:i], *argv[i + 1:], "--", argv[i]]
    return argv


def run_operator(args: argparse.Namespace) -> int:
    # kopf imports the synchronous kubernetes client, when it is installed, only to recognise its
    # objects, which the operator never passes: 40 MiB for nothing. The image does not install it; a
    # development environment does (for the tests), and its operator should weigh what the image's does.
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]
    import kopf

    from stashsync.controllers.memo import OperatorMemo
    from stashsync.handlers import build_registry
    from stashsync.kube import client as kube_client
    from stashsync.settings import Settings

    try:
        settings = Settings()  # read once, here: the routing table and the memo take it from us
    except ValueError as exc:  # a malformed setting: say which, before anything starts
        raise CliError(str(exc)) from None
    kopf.configure(verbose=args.verbose,
                   log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN)
    log_redaction.install()
    log_levels.install()
    namespaces = args.namespace or list(settings.watch_namespaces)
    peering = args.peering or None
    # Two replicas with the same priority would both pause; a random one makes a tie (1 in 2^31) unlikely.
    priority = args.priority if args.priority is not None else secrets.randbelow(2**31 - 1) + 1

    async def operate() -> None:
        api = await kube_client.connect()
        try:
            await kopf.operator(registry=build_registry(settings), memo=OperatorMemo.from_settings(settings, api),
                                standalone=peering is None, peering_name=peering,
                                priority=priority if peering else None, clusterwide=not namespaces,
                                namespaces=namespaces, liveness_endpoint=args.liveness or None)
        finally:
            await api.close()

    asyncio.run(operate())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(shield_tokens(list(sys.argv[1:] if argv is None else argv)))
    try:
        return int(args.func(args))
    except StashError as exc:
        print(f"stashsync: error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # A library's text may quote what it was given (botocore quotes parameter values): name the
        # exception and where it was raised, never its text.
        print(f"stashsync: error: unexpected {type(exc).__name__} at {_raised_at(exc)} (a bug: please report "
              "it with the command)", file=sys.stderr)
        return 2


def _raised_at(exc: BaseException) -> str:
    """module:line of the innermost Python frame the exception passed through."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_globals.get('__name__', '?')}:{tb.tb_lineno}" if tb is not None else "?"
