"""Convergence and steady-state cost at scale. Writes docs/benchmarks/convergence.md
and docs/benchmarks/convergence.png.

For each N (100, 1,000, 10,000; BENCH_CONVERGENCE_NS to change): a fresh local stack, a credstash
table of 100 credentials, N SyncedSecrets (each naming one credential) created at once from 8 client
threads. Measured: time until all are Ready, Secrets written per second, the operator's peak RSS
(VmHWM) and CPU seconds (utime + stime). Up to N = 1,000 the objects carry the steady-state
refreshInterval from the start (15 s: longer than they take to converge, so no object refreshes on
the way, and 1,000 / 15 s refreshes a second is well within what 2 cores sustain), and the AWS calls
of the following quiet interval become calls per hour per secret.
The floor (bench/floor.py) runs the same N on a fresh stack without the operator. Rotation latency
is bench/bench_rotation.py.

The store's rateLimit is raised to 1,000 requests/s: with the default 50/s, a credstash first sync
(one Query + one Decrypt) is capped at 25 objects/s per store, and that cap, not the operator, would
be measured."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from bench.floor import floor_seconds
from bench.local_stack import ROOT, Stack, aws_calls, local_stack, proc_figures, stamp
from bench.report import write_report
from tests.harness.kube import ready_condition, wait_for
from tests.objects import TENANT_AUTH

from stashsync.api import API_VERSION, GROUP, VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.sources.credstash import CredstashSource

NS_SIZES = [int(n) for n in os.environ.get("BENCH_CONVERGENCE_NS", "100,1000,10000").split(",")]
CREDENTIALS = 100
STEADY_MAX_N = int(os.environ.get("BENCH_STEADY_MAX_N", "1000"))
STEADY_INTERVAL = 15
RATE_LIMIT = {"requestsPerSecond": 1000, "burst": 1000}
NS = "bench"
FLOOR_CONCURRENCY = 32  # the operator's default sync concurrency (STASHSYNC_SYNC_CONCURRENCY)


def synced_count(stack: Stack) -> float:
    """Successful syncs so far, from the operator's metrics: polling this costs the apiserver nothing,
    where listing 10,000 objects every few seconds would slow the very thing measured."""
    assert stack.operator is not None
    return stack.operator.metric("stashsync_syncs_total", kind="SyncedSecret", reason="Synced")


def steady_interval(n: int) -> int | None:
    """The refreshInterval (s) whose steady state is measured at this N; None: not measured."""
    return None if n > STEADY_MAX_N else STEADY_INTERVAL


def ready_count(stack: Stack) -> int:
    items = stack.kube.custom.list_namespaced_custom_object(GROUP, VERSION, NS, "syncedsecrets")["items"]
    return sum(1 for i in items if (ready_condition(i) or {}).get("status") == "True")


def ssec(name: str, credential: str, refresh: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "SyncedSecret", "metadata": {"name": name, "namespace": NS},
            "spec": {"storeRef": {"name": "main"}, "data": [{"key": "v", "name": credential}],
                     "refreshInterval": refresh, **extra}}


def create_all(stack: Stack, docs: list[dict[str, Any]]) -> None:
    custom = stack.kube.custom
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda d: custom.create_namespaced_custom_object(GROUP, VERSION, NS,
                                                                      "syncedsecrets", d), docs))


def run(n: int) -> dict[str, Any]:
    with local_stack(NS) as stack:
        kms = boto3.client("kms")
        kms.create_alias(AliasName="alias/credstash", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
        source = CredstashSource(AwsClients(AwsAuth(region="us-east-1")), table="bench-creds")
        source.create_table()
        for c in range(CREDENTIALS):
            source.put(f"cred.{c}", f"value-{c}".encode(), 1, {})
        stack.kube.apply({"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": "main"},
                          "spec": {"credstash": {"table": "bench-creds", "region": "us-east-1"},
                                  "rateLimit": RATE_LIMIT, "auth": TENANT_AUTH}}, NS)
        pid = stack.operator.process.popen.pid  # type: ignore[union-attr]
        _, cpu_before = proc_figures(pid)
        started = time.monotonic()
        interval = steady_interval(n)
        refresh = f"{interval}s" if interval else "1h"  # no refresh during the measured convergence
        create_all(stack, [ssec(f"s{i}", f"cred.{i % CREDENTIALS}", refresh) for i in range(n)])
        created = time.monotonic() - started
        # Each scrape formats one gauge per object: poll large runs less often, not to slow what is measured.
        wait_for(lambda: synced_count(stack) >= n, 3600, f"{n} synced", interval=0.5 if n <= 1000 else 2)
        converged = time.monotonic() - started
        wait_for(lambda: ready_count(stack) >= n, 600, f"{n} Ready")  # confirmed once, from the statuses
        rss, cpu = proc_figures(pid)
        result: dict[str, Any] = {"n": n, "create_seconds": created, "converge_seconds": converged,
                                  "secrets_per_second": n / converged, "peak_rss_mib": rss,
                                  "cpu_seconds": cpu - cpu_before}
        if interval:
            # Steady state: every object refreshes every `interval` (jittered); nothing changes at the
            # source. The window is one whole interval and starts half an interval after the first
            # syncs (which may already be spread that far), so no object's refresh sits at its edge.
            window = interval
            time.sleep(max(0.0, interval / 2 - (time.monotonic() - started)))
            before = aws_calls(stack)
            time.sleep(window)
            after = aws_calls(stack)
            steady = {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}
            scale = 3600 / window / n
            result["steady_interval_seconds"] = interval
            result["steady_window_seconds"] = window
            result["steady_calls_per_hour_per_secret"] = {k: v * scale for k, v in steady.items()}
        return result


def floor(n: int) -> float:
    """The same N objects on a fresh stack without the operator, handled by the floor client
    (bench/floor.py) with the operator's sync concurrency."""
    with local_stack(NS, with_operator=False) as stack:
        docs = [ssec(f"s{i}", f"cred.{i % CREDENTIALS}", "1h") for i in range(n)]
        return floor_seconds(stack.kubeconfig, NS, n, lambda: create_all(stack, docs), FLOOR_CONCURRENCY)


def plot(results: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [r["n"] for r in results]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key, label in ((axes[0], "converge_seconds", "time to all Ready (s)"),
                           (axes[1], "secrets_per_second", "Secrets written per second"),
                           (axes[2], "peak_rss_mib", "operator peak RSS (MiB)")):
        ax.plot(ns, [r[key] for r in results], marker="o")
        ax.set_xscale("log")
        ax.set_xlabel("SyncedSecrets created at once")
        ax.set_title(label)
        ax.set_ylim(bottom=0)  # a truncated axis would exaggerate small differences
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(ROOT / "docs/benchmarks/convergence.png", dpi=110)


def main() -> None:
    results = [run(n) for n in NS_SIZES]
    for r in results:
        r["floor_seconds"] = floor(r["n"])
    lines = ["# Convergence at scale, steady-state cost", "", stamp(), "",
             "N SyncedSecrets created at once (8 client threads), each naming one of 100 credstash credentials; "
             "the first sync reads version and value together (one full-item DynamoDB Query + one KMS Decrypt), "
             "writes the Secret and the status. A fresh operator per N. The store's rateLimit is 1,000 "
             "requests/s: the default 50/s caps credstash first syncs at 25 objects/s per store.", "",
             "Floor: the same N objects created the same way on a fresh stack without the operator, while a plain "
             f"async client ({FLOOR_CONCURRENCY} workers, bench/floor.py) makes for each the apiserver writes the "
             "operator must make (Secret, status), with no AWS call: what the apiserver alone allows.", "",
             "| N | create s | all Ready s | floor s | x floor | Secrets/s | peak RSS MiB | CPU s "
             "| CPU ms per object |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['n']:,} | {r['create_seconds']:.1f} | {r['converge_seconds']:.1f} | "
                     f"{r['floor_seconds']:.1f} | {r['converge_seconds'] / r['floor_seconds']:.2f} | "
                     f"{r['secrets_per_second']:.1f} | {r['peak_rss_mib']:.0f} | {r['cpu_seconds']:.1f} | "
                     f"{1000 * r['cpu_seconds'] / r['n']:.1f} |")
    lines += ["", "![convergence](convergence.png)", "",
              f"## Steady state (nothing changing; N up to {STEADY_MAX_N:,})", "",
              "Refreshes expected per hour per secret: 3600 / refreshInterval (jittered by 10 %).", "",
              "| N | refreshInterval | window | refreshes expected per hour per secret "
              "| AWS calls per hour per secret | of which KMS |", "|---:|---:|---:|---:|---|---:|"]
    for r in (r for r in results if "steady_calls_per_hour_per_secret" in r):
        calls = r["steady_calls_per_hour_per_secret"]
        kms = sum(v for k, v in calls.items() if k.startswith("kms."))
        lines.append(f"| {r['n']:,} | {r['steady_interval_seconds']} s | {r['steady_window_seconds']} s | "
                     f"{3600 / r['steady_interval_seconds']:.0f} | "
                     + ", ".join(f"{k} {v:.0f}" for k, v in sorted(calls.items())) + f" | {kms:.0f} |")
    lines += ["", "Raw figures:", "", "```json", json.dumps(results, indent=1), "```", ""]
    write_report("convergence", lines)  # first: the figures are kept whatever the plot does
    plot(results)


if __name__ == "__main__":
    main()
