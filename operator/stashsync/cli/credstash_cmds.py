"""credstash-compatible table commands: setup, put, get, getall, list, versions, delete, prune, diff."""

from __future__ import annotations

import argparse
import difflib
import hmac
import json
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

from stashsync.cli import inputs, s3_backend
from stashsync.cli.errors import CliError
from stashsync.crypto.credstash import DIGESTS, Algorithm
from stashsync.sources.base import CredentialRef, Source
from stashsync.sources.credstash import DEFAULT_KMS_KEY, DEFAULT_TABLE, CredstashSource
from stashsync.sources.s3 import DEFAULT_KMS_KEY as S3_DEFAULT_KMS_KEY
from stashsync.sources.wrap import DEFAULT_TABLE as DEFAULT_WRAP_TABLE
from stashsync.sources.wrap import DirectWrapService

T = TypeVar("T")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                 common: argparse.ArgumentParser) -> None:
    def cmd(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, parents=[common], description=help_text)

    p = cmd("setup", "create the credential table (with --wrap: a wrap-token table) if it does not exist")
    p.add_argument("--wrap", action="store_true",
                   help=f"create an aws-secrets-wrapper table (pk, sk, TTL on ttl; default name {DEFAULT_WRAP_TABLE})")
    p.add_argument("--stream", action="store_true",
                   help="also give the credential table a DynamoDB stream, for a store's changeFeed.dynamodbStream")
    p.set_defaults(func=setup)

    p = cmd("put", "store a new version of a credential")
    p.add_argument("credential")
    p.add_argument("value", help="the value, '-' to read standard input, or @FILE to read a file")
    p.add_argument("context", nargs="*", help="encryption context as key=value pairs")
    p.add_argument("-k", "--key-id", default=None,
                   help=f"KMS key (default {DEFAULT_KMS_KEY}; {S3_DEFAULT_KMS_KEY} with --backend s3)")
    s3_backend.add_arguments(p)
    p.add_argument("-v", "--version", help="version to store (default 1)")
    p.add_argument("-a", "--autoversion", action="store_true", help="store as latest version + 1")
    p.add_argument("-d", "--digest", default="SHA256", choices=sorted(DIGESTS), help="HMAC digest")
    p.add_argument("--algorithm", default="credstash", choices=[a.value for a in Algorithm],
                   help="item format: credstash (default), or credsmash's aes-ctr / aes-gcm")
    p.set_defaults(func=put)

    p = cmd("get", "print a credential's value")
    p.add_argument("credential")
    p.add_argument("context", nargs="*", help="encryption context as key=value pairs")
    p.add_argument("-v", "--version", help="version (default latest)")
    p.add_argument("-n", "--noline", action="store_true", help="no newline after the value")
    s3_backend.add_arguments(p)
    p.set_defaults(func=get)

    p = cmd("getall", "print every credential's latest value as JSON")
    p.add_argument("context", nargs="*", help="encryption context as key=value pairs")
    p.set_defaults(func=getall)

    p = cmd("list", "list credentials and their versions")
    p.set_defaults(func=list_credentials)

    p = cmd("versions", "list the versions of one credential, newest first")
    p.add_argument("credential")
    p.set_defaults(func=versions)

    p = cmd("delete", "delete every version of a credential")
    p.add_argument("credential")
    p.set_defaults(func=delete)

    p = cmd("prune", "delete old versions, keeping the newest N")
    p.add_argument("credential")
    p.add_argument("--keep", type=int, default=3, help="versions to keep (default 3)")
    p.set_defaults(func=prune)

    p = cmd("diff", "tell whether two versions of a credential hold the same value")
    p.add_argument("credential")
    p.add_argument("version_a")
    p.add_argument("version_b")
    p.add_argument("context", nargs="*", help="encryption context as key=value pairs")
    p.add_argument("--show", action="store_true", help="also print a diff of the values")
    p.set_defaults(func=diff)


def source(args: argparse.Namespace, algorithm: str = "credstash", digest: str = "SHA256") -> CredstashSource:
    return CredstashSource(inputs.clients(args.region), table=args.table or DEFAULT_TABLE,
                           kms_key_id=getattr(args, "key_id", None) or DEFAULT_KMS_KEY, algorithm=Algorithm(algorithm),
                           digest=digest)


def _context(args: argparse.Namespace) -> dict[str, str]:
    """The encryption context, as credstash takes it: key=value pairs (an empty value allowed)."""
    return inputs.pairs(args.context, "context", allow_empty_value=True)


def progress(items: Iterable[T], total: int | None, what: str) -> Iterator[T]:
    """A progress bar on a terminal, nothing otherwise (so pipes stay clean)."""
    yield from tqdm(items, total=total, desc=what, unit="item", disable=not sys.stderr.isatty(), leave=False)


def setup(args: argparse.Namespace) -> int:
    if args.wrap and args.stream:
        raise CliError("--stream is for a credential table; a wrap-token table has no change feed")
    if args.wrap:
        table = args.table or DEFAULT_WRAP_TABLE
        created = DirectWrapService(inputs.clients(args.region), table, service_kms_key=None).create_table()
    else:
        table = args.table or DEFAULT_TABLE
        created = source(args).create_table()
    print(f"table {table} {'created' if created else 'already exists'}")
    if args.stream:
        streamed = source(args).enable_stream()
        print(f"table {table}: stream {'enabled' if streamed else 'already enabled'} (changeFeed.dynamodbStream)")
    return 0


def put(args: argparse.Namespace) -> int:
    if args.backend == "s3":
        etag = s3_backend.source(args).put(args.credential, inputs.read_value(args.value))
        print(f"{args.credential} has been stored (ETag {etag})")
        return 0
    src = source(args, args.algorithm, args.digest)
    if args.autoversion and args.version:
        raise CliError("give either -a or -v, not both")
    version = src.next_version(args.credential) if args.autoversion else _int_version(args.version or "1")
    src.put(args.credential, inputs.read_value(args.value), version, _context(args))
    print(f"{args.credential} has been stored (version {version})")
    return 0


def get(args: argparse.Namespace) -> int:
    src: Source = s3_backend.source(args) if args.backend == "s3" else source(args)
    ref = CredentialRef(name=args.credential, version=args.version, context=_context(args))
    value = src.fetch(ref, src.current_version(ref))
    sys.stdout.buffer.write(value + (b"" if args.noline else b"\n"))
    return 0


def getall(args: argparse.Namespace) -> int:
    src = source(args)
    context = _context(args)
    names = src.list_names()
    out = {}
    for name in progress(names, len(names), "decrypting"):
        ref = CredentialRef(name=name, context=context)
        out[name] = src.fetch(ref, src.current_version(ref)).decode("utf-8", errors="replace")
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


def list_credentials(args: argparse.Namespace) -> int:
    rows = sorted(source(args).scan())
    width = max((len(name) for name, _ in rows), default=0)
    for name, version in rows:
        print(f"{name:<{width}} -- version {int(version)}")
    return 0


def versions(args: argparse.Namespace) -> int:
    found = source(args).versions(args.credential)
    if not found:
        raise CliError(f"credential {args.credential!r} not found")
    for version in found:
        print(int(version))
    return 0


def delete(args: argparse.Namespace) -> int:
    src = source(args)
    found = src.versions(args.credential)
    if not found:
        raise CliError(f"credential {args.credential!r} not found")
    for version in progress(found, len(found), "deleting"):
        src.delete_version(args.credential, version)
    print(f"deleted {args.credential} ({len(found)} version(s))")
    return 0


def prune(args: argparse.Namespace) -> int:
    if args.keep < 1:
        raise CliError("--keep must be at least 1")
    src = source(args)
    old = src.versions(args.credential)[args.keep:]
    for version in progress(old, len(old), "pruning"):
        src.delete_version(args.credential, version)
    print(f"pruned {len(old)} old version(s) of {args.credential}, kept {args.keep}")
    return 0


def diff(args: argparse.Namespace) -> int:
    src = source(args)
    context = _context(args)
    a, b = (_int_version(v) for v in (args.version_a, args.version_b))
    values = [src.fetch(CredentialRef(args.credential, str(v), context), str(v)) for v in (a, b)]
    same = hmac.compare_digest(values[0], values[1])
    print(f"{args.credential}: version {a} and version {b} {'are identical' if same else 'differ'}")
    if args.show and not same:
        sys.stdout.writelines(difflib.unified_diff(
            values[0].decode(errors="replace").splitlines(keepends=True),
            values[1].decode(errors="replace").splitlines(keepends=True), f"version {a}", f"version {b}"))
    return 0 if same else 1


def _int_version(text: str) -> int:
    if not text.isdigit():
        raise CliError(f"version must be a whole number, got {text!r}")
    return int(text)
