"""`stashsync wrap` / `stashsync unwrap`: one-time wrap tokens in aws-secrets-wrapper's format."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from stashsync.aws.clients import AwsClients, translate_errors
from stashsync.cli import inputs
from stashsync.cli.errors import CliError
from stashsync.sources.wrap import (
    DirectWrapService,
    LambdaWrapService,
    WrapService,
    open_client_layer,
    seal_client_layer,
)

DEFAULT_CLIENT_KEY = "alias/wrap-client"  # awswrap's default


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    service = argparse.ArgumentParser(add_help=False)
    service.add_argument("-r", "--region", default=None, help="AWS region (default from environment)")
    service.add_argument("--mode", choices=["direct", "lambda"], default="direct",
                         help="direct: use the table and KMS here; lambda: invoke the wrap service")
    service.add_argument("--table", default=os.environ.get("STASHSYNC_WRAP_TABLE"),
                         help="wrap table, for direct mode (or STASHSYNC_WRAP_TABLE)")
    service.add_argument("--function", default="secrets-wrap", help="wrap service Lambda, for lambda mode")

    p = sub.add_parser("wrap", parents=[service], help="wrap a value into a one-time token (printed)")
    p.add_argument("value", nargs="?", help="the value; '-' or nothing reads standard input")
    p.add_argument("-s", "--from-secret", metavar="NAME", help="wrap the value of this Secrets Manager secret")
    p.add_argument("-t", "--ttl", type=int, default=900, help="seconds until the token expires (default 900)")
    p.add_argument("-k", "--kms-key", default=DEFAULT_CLIENT_KEY, help=f"client KMS key (default {DEFAULT_CLIENT_KEY})")
    p.add_argument("--service-kms-key", default=os.environ.get("STASHSYNC_WRAP_KMS_KEY"),
                   help="the service's KMS key, for direct mode (or STASHSYNC_WRAP_KMS_KEY)")
    p.set_defaults(func=wrap)

    p = sub.add_parser("unwrap", parents=[service], help="unwrap a token (once: the stored secret is deleted)")
    p.add_argument("token", help="the wrap token; '-' reads standard input")
    p.set_defaults(func=unwrap)


def _service(args: argparse.Namespace, clients: AwsClients, service_key: str | None = None) -> WrapService:
    if args.mode == "lambda":
        return LambdaWrapService(clients, args.function)
    if not args.table:
        raise CliError("direct mode needs --table (or STASHSYNC_WRAP_TABLE)")
    return DirectWrapService(clients, args.table, service_key)


def _value(args: argparse.Namespace, clients: AwsClients) -> bytes:
    if args.from_secret:
        with translate_errors(f"secret {args.from_secret!r}"):
            found = clients.client("secretsmanager").get_secret_value(SecretId=args.from_secret)
        return found["SecretString"].encode() if "SecretString" in found else bytes(found["SecretBinary"])
    if args.value in (None, "-"):
        return sys.stdin.buffer.read().rstrip(b"\n")
    return str(args.value).encode()


def wrap(args: argparse.Namespace) -> int:
    if args.ttl <= 0:
        raise CliError("--ttl must be a positive number of seconds")
    clients = inputs.clients(args.region)
    value = _value(args, clients)
    if not value:
        raise CliError("nothing to wrap: the value is empty")
    client_value, client_data_key = seal_client_layer(clients, value, args.kms_key)
    token = _service(args, clients, args.service_kms_key).wrap(
        client_value, client_data_key, args.kms_key, int(time.time()) + args.ttl)
    print(token)
    return 0


def unwrap(args: argparse.Namespace) -> int:
    clients = inputs.clients(args.region)
    token = sys.stdin.readline().strip() if args.token == "-" else args.token.strip().strip("'\"")
    claimed = _service(args, clients).unwrap_and_delete(token)
    value = open_client_layer(clients, claimed)
    try:
        print(json.dumps(json.loads(value), indent=2))
    except ValueError:
        sys.stdout.buffer.write(value + b"\n")
    return 0
