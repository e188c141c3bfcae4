"""`put` / `get` with `--backend s3`: lazycred objects in S3 instead of a credstash table."""

from __future__ import annotations

import argparse

from stashsync.cli import inputs
from stashsync.cli.errors import CliError
from stashsync.sources.s3 import DEFAULT_KMS_KEY, S3Source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["dynamodb", "s3"], default="dynamodb",
                        help="dynamodb: a credstash table (default); s3: lazycred objects in --bucket")
    parser.add_argument("--bucket", help="S3 bucket (with --backend s3)")
    parser.add_argument("--prefix", default="", help="key prefix before the credential name (with --backend s3)")


def source(args: argparse.Namespace) -> S3Source:
    if not args.bucket:
        raise CliError("--backend s3 needs --bucket")
    if getattr(args, "context", None):
        raise CliError("--backend s3 takes no encryption context (lazycred uses none)")
    writing = hasattr(args, "autoversion")
    if writing and (args.version or args.autoversion):
        raise CliError("--backend s3 writes the object anew (lazycred); -v and -a do not apply")
    return S3Source(inputs.clients(getattr(args, "region", None)), bucket=args.bucket, prefix=args.prefix,
                    kms_key_id=getattr(args, "key_id", None) or DEFAULT_KMS_KEY)
