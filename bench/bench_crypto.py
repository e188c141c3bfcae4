"""Per-value cost of opening and sealing credstash/credsmash items (pure crypto, no AWS calls).

Writes docs/benchmarks/crypto.md. The KMS round trip is not included: it is one Decrypt per
new version, measured by the integration tests as a call count."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

from bench.report import write_report

from stashsync.crypto import credstash as fmt
from stashsync.crypto import envelope

ROOT = Path(__file__).resolve().parents[1]

SIZES = [64, 4096, 65536]
ROUNDS = 2000


def _median_us(fn: object, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def run() -> list[tuple[str, int, float, float]]:
    rows = []
    for algorithm in fmt.Algorithm:
        key = os.urandom(fmt.data_key_bytes(algorithm))
        for size in SIZES:
            plain = os.urandom(size)
            item = dict(fmt.seal(plain, key, b"blob", algorithm).attributes)
            seal_us = _median_us(lambda p=plain, k=key, a=algorithm: fmt.seal(p, k, b"blob", a), ROUNDS)
            open_us = _median_us(lambda i=item, k=key: fmt.open_item(i, k), ROUNDS)
            rows.append((algorithm.value, size, seal_us, open_us))
    ctx = envelope.context("namespace", "secret", "key")
    key = os.urandom(32)
    for size in SIZES:
        plain = os.urandom(size)
        text = envelope.seal(plain, key, b"w" * 184, ctx)  # 184: the size of a KMS-wrapped 32-byte key
        seal_us = _median_us(lambda p=plain: envelope.seal(p, key, b"w" * 184, ctx), ROUNDS)
        open_us = _median_us(lambda t=text: envelope.open_envelope(envelope.parse(t), key, ctx), ROUNDS)
        rows.append(("re-encryption envelope", size, seal_us, open_us))
    return rows


def main() -> None:
    rows = run()
    lines = [
        "# Crypto cost per value (no AWS calls)", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}. Median of {ROUNDS} runs.", "",
        "The re-encryption envelope rows exclude the KMS GenerateDataKey / Decrypt round trip (one per value).", "",
        "| format | value bytes | seal µs | open (verify + decrypt) µs |", "|---|---:|---:|---:|",
        *[f"| {a} | {s} | {seal:.1f} | {opn:.1f} |" for a, s, seal, opn in rows], ""]
    write_report("crypto", lines)


if __name__ == "__main__":
    main()
