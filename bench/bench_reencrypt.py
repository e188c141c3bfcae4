"""Added latency of re-encryption per value, KMS round trip included (against a local moto_server):
what spec.encryption.kms adds to a sync for each value, and what `stashsync exec` adds per value at
start. Writes docs/benchmarks/reencrypt.md."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3
from bench.report import write_report
from pyrage import x25519
from tests.harness.moto import MotoServer

from stashsync.aws import kms_envelope
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.crypto import envelope

ROOT = Path(__file__).resolve().parents[1]

ROUNDS = int(os.environ.get("BENCH_REENCRYPT_ROUNDS", "300"))


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000


def main() -> None:
    moto = MotoServer(Path(tempfile.mkdtemp(prefix="stashsync-bench-")) / "moto").start()
    try:
        os.environ.update(moto.env())
        kms = boto3.client("kms")
        kms.create_alias(AliasName="alias/bench", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
        clients = AwsClients(AwsAuth(region="us-east-1"))
        ctx = envelope.context("ns", "secret", "key")
        value = os.urandom(64)
        identity = x25519.Identity.generate()
        rows = []
        schemes: list[tuple[str, Callable[[], str], Callable[[str], bytes]]] = [
            ("kms (GenerateDataKey / Decrypt + AES-256-GCM)",
             lambda: kms_envelope.encrypt(clients, "alias/bench", value, ctx),
             lambda text: kms_envelope.decrypt(clients, text, ctx)),
            ("age X25519 (no KMS call)",
             lambda: envelope.seal_age(value, [str(identity.to_public())], ctx),
             lambda text: envelope.open_age(text, [str(identity)], ctx)),
        ]
        for name, seal, unseal in schemes:
            seal_s, open_s = [], []
            for _ in range(ROUNDS):
                t0 = time.perf_counter()
                text = seal()
                t1 = time.perf_counter()
                unseal(text)
                t2 = time.perf_counter()
                seal_s.append(t1 - t0)
                open_s.append(t2 - t1)
            rows.append((name, *_ms(seal_s), *_ms(open_s)))
    finally:
        moto.stop()
    lines = ["# Re-encryption: added latency per value", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"{time.strftime('%Y-%m-%d')}; KMS is a local moto_server (real AWS adds its network round trip, "
             f"typically a few ms in-region). 64-byte values, {ROUNDS} rounds.", "",
             "| envelope | encrypt p50 ms | encrypt p99 ms | decrypt p50 ms | decrypt p99 ms |",
             "|---|---:|---:|---:|---:|",
             *[f"| {n} | {a:.2f} | {b:.2f} | {c:.2f} | {d:.2f} |" for n, a, b, c, d in rows], ""]
    write_report("reencrypt", lines)


if __name__ == "__main__":
    main()
