"""Memory per store: what one store's AWS session and clients (DynamoDB, KMS, STS) add to the
operator's resident set. Writes docs/benchmarks/store_memory.md.

Each figure comes from a fresh child process that builds N stores' clients and reports its RSS
before and after; no AWS call is made (building the clients is what holds the memory). "Own session"
is a plain boto3 session per store, as the operator did before the shared botocore loader; "shared
loader" is stashsync's AwsClients today."""

from __future__ import annotations

import gc
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.report import write_report

ROOT = Path(__file__).resolve().parents[1]

COUNTS = [1, 10, 40, 100]
SERVICES = ("dynamodb", "kms", "sts")


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _child(mode: str, n: int) -> dict[str, float]:
    import boto3

    from stashsync.aws.clients import AwsAuth, AwsClients

    before = _rss_mib()
    held: list[Any] = []
    for i in range(n):
        if mode == "own-session":
            session = boto3.session.Session(aws_access_key_id=f"AKID{i}", aws_secret_access_key="x",
                                            region_name="us-east-1")
            held.append([session.client(s, endpoint_url="http://127.0.0.1:1") for s in SERVICES])
        else:
            clients = AwsClients(AwsAuth(region="us-east-1", access_key_id=f"AKID{i}", secret_access_key="x",
                                         endpoint="http://127.0.0.1:1"))
            held.append([clients.client(s) for s in SERVICES])
    gc.collect()
    after = _rss_mib()
    return {"before_mib": before, "after_mib": after, "per_store_mib": (after - before) / n}


def _measure(mode: str, n: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "bench.bench_store_memory", "--child", mode, str(n)], check=True,
                         capture_output=True, cwd=ROOT).stdout
    result: dict[str, float] = json.loads(out)
    return result


def main() -> None:
    cases = [(mode, n) for mode in ("own-session", "shared-loader") for n in COUNTS]
    with ThreadPoolExecutor(2) as pool:  # each child measures its own RSS: running two at once changes nothing
        rows = [(mode, n, r) for (mode, n), r in zip(cases, pool.map(lambda c: _measure(*c), cases), strict=True)]
    lines = ["# Memory per store", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"{time.strftime('%Y-%m-%d')}. Command: `python -m bench.bench_store_memory`.", "",
             "Each row is a fresh process holding N stores, each with DynamoDB, KMS and STS clients.", "",
             "| sessions | stores | RSS before MiB | RSS after MiB | MiB per store |", "|---|---|---|---|---|"]
    for mode, n, r in rows:
        lines.append(f"| {mode} | {n} | {r['before_mib']:.0f} | {r['after_mib']:.0f} | {r['per_store_mib']:.2f} |")
    lines += ["", "With one botocore loader shared by every session, a store costs its clients, not its own "
              "parsed copy of the service models and endpoint rules. The operator keeps at most "
              "`MAX_BUILT` (256) stores' sessions, least recently used dropped first."]
    write_report("store_memory", lines)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
