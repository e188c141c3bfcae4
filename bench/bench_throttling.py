"""Throttling at 10,000 objects: does AWS saying "slow down" turn into a retry storm? Writes
docs/benchmarks/throttling.md and docs/benchmarks/throttling.png.

moto has no quotas, so a loopback proxy (bench/quota_proxy.py) puts them back in front of Secrets
Manager: every operation at QUOTA requests/s, below the store's own default budget (50/s), as when
other tools in the account use most of a quota that is per account. N SyncedSecrets (BENCH_THROTTLE_N,
default 10,000) over SECRETS secrets, refreshInterval REFRESH_SECONDS (60 s), created at once from 8
client threads.
Measured, second by second at the proxy: calls forwarded and calls answered ThrottlingException, until
all are Ready and over the following whole interval at rest; and the syncs that failed as Throttled.
A retry storm would show as attempts climbing above the store's budget, or throttled answers
outnumbering forwarded ones for long."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from bench.bench_convergence import create_all
from bench.local_stack import ROOT, Stack, local_stack, proc_figures, stamp
from bench.quota_proxy import QuotaProxy
from bench.ready_watch import ReadyWatch
from bench.report import write_report
from tests.objects import TENANT_AUTH

from stashsync.api import API_VERSION, GROUP, VERSION
from stashsync.api.stores import DEFAULT_BURST, DEFAULT_REQUESTS_PER_SECOND

N = int(os.environ.get("BENCH_THROTTLE_N", "10000"))
SECRETS = 1000
QUOTA = 5.0  # low: first syncs read 20 secrets a call and checks take 10 along
# The window at rest is one interval. Its 100 ListSecrets come due in bursts (the objects were made
# together); at 30 s they would need two thirds of the quota, and throttled bursts fall behind it.
REFRESH_SECONDS = 60
NS = "bench"
OPERATIONS = ("ListSecrets", "BatchGetSecretValue", "GetSecretValue", "DescribeSecret")


def syncs(stack: Stack, reason: str) -> float:
    assert stack.operator is not None
    return stack.operator.metric("stashsync_syncs_total", kind="SyncedSecret", reason=reason)


def run() -> dict[str, Any]:
    with local_stack(NS) as stack:
        sm = boto3.client("secretsmanager")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: sm.create_secret(Name=f"app/c{c:05d}", SecretString=f"value-{c}"),
                          range(SECRETS)))
        proxy = QuotaProxy(stack.moto.url, {f"secretsmanager.{op}": QUOTA for op in OPERATIONS}).start()
        try:
            stack.kube.apply({"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": "sm"},
                              "spec": {"secretsManager": {"region": "us-east-1"}, "auth": TENANT_AUTH,
                                       "endpoints": {"secretsmanager": proxy.url}}}, NS)
            assert stack.operator is not None and stack.operator.process is not None
            pid = stack.operator.process.popen.pid  # type: ignore[union-attr]
            _, cpu0 = proc_figures(pid)
            docs = [{"apiVersion": API_VERSION, "kind": "SyncedSecret", "metadata": {"name": f"s{i}"},
                     "spec": {"storeRef": {"name": "sm"}, "refreshInterval": f"{REFRESH_SECONDS}s",
                              "data": [{"key": "v", "name": f"app/c{i % SECRETS:05d}"}]}} for i in range(N)]
            # Watched, not counted from the metrics: objects synced early refresh (and count again)
            # before the last ones have synced once.
            with ReadyWatch(stack.kube.api_client, GROUP, VERSION, NS, "syncedsecrets") as watch:
                proxy.started = started = time.monotonic()
                create_all(stack, docs)
                if watch.wait(N, started + 1800) < N:
                    raise AssertionError(f"only {watch.count()} of {N} Ready after 1800 s")
                converged = max(watch.times().values()) - started
            at_convergence = proxy.totals()
            throttled_syncs = syncs(stack, "Throttled")
            time.sleep(REFRESH_SECONDS)  # a whole interval at rest
            rss, cpu = proc_figures(pid)
            series = sorted(proxy.per_second.items())
            at_rest = proxy.totals() - at_convergence
        finally:
            proxy.stop()
    seconds = 1 + max(s for (s, _, _), _ in series)
    forwarded, throttled = [0] * seconds, [0] * seconds
    for (s, _, was_throttled), n in series:
        (throttled if was_throttled else forwarded)[s] += n
    return {"n": N, "secrets": SECRETS, "quota_per_operation": QUOTA,
            "store_budget": [DEFAULT_REQUESTS_PER_SECOND, DEFAULT_BURST], "converge_seconds": converged,
            "throttled_syncs_to_converge": throttled_syncs, "cpu_seconds": cpu - cpu0, "peak_rss_mib": rss,
            "to_converge": _split(at_convergence), "at_rest": _split(at_rest),
            "max_attempts_per_second": max(f + t for f, t in zip(forwarded, throttled, strict=True)),
            "forwarded_per_second": forwarded, "throttled_per_second": throttled}


def _split(totals: Any) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for (op, was_throttled), n in totals.items():
        found.setdefault(op, {"forwarded": 0, "throttled": 0})["throttled" if was_throttled else "forwarded"] += n
    return found


def plot(r: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.8))
    xs = range(len(r["forwarded_per_second"]))
    ax.plot(xs, r["forwarded_per_second"], label="forwarded to Secrets Manager", lw=1)
    ax.plot(xs, r["throttled_per_second"], label="answered ThrottlingException", lw=1)
    ax.axhline(r["quota_per_operation"], color="grey", ls="--", lw=0.8, label="quota per operation")
    ax.axhline(r["store_budget"][0], color="black", ls=":", lw=0.8, label="store budget (rateLimit)")
    ax.axvline(r["converge_seconds"], color="green", lw=0.8, label="all Ready")
    ax.set_xlabel("seconds since the objects were created")
    ax.set_ylabel("calls per second")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ROOT / "docs/benchmarks/throttling.png", dpi=110)


def main() -> None:
    r = run()
    rows = []
    for phase in ("to_converge", "at_rest"):
        for op, c in sorted(r[phase].items()):
            share = c["throttled"] / max(1, c["forwarded"] + c["throttled"])
            rows.append(f"| {phase.replace('_', ' ')} | {op} | {c['forwarded']:,} | {c['throttled']:,} | "
                        f"{100 * share:.0f} % |")
    lines = ["# Throttling at scale", "", stamp(), "",
             f"{r['n']:,} SyncedSecrets over {r['secrets']:,} Secrets Manager secrets, refreshInterval "
             f"{REFRESH_SECONDS}s, created at once. A quota proxy answers ThrottlingException above "
             f"{r['quota_per_operation']:.0f} requests/s per operation; the store keeps its default budget "
             f"({r['store_budget'][0]:.0f}/s, burst {r['store_budget'][1]}), which is above that quota.", "",
             f"- All Ready after {r['converge_seconds']:.1f} s; {r['throttled_syncs_to_converge']:.0f} syncs failed "
             "as Throttled on the way (each retried with backoff).",
             f"- Attempts per second at the proxy never exceeded {r['max_attempts_per_second']} (the store's "
             f"budget, {r['store_budget'][0]:.0f}/s with a burst of {r['store_budget'][1]}, counts every attempt, "
             "botocore's retries included, so throttling cannot multiply them), and each throttled answer halves "
             "the store's rate for a while (aws/ratelimit.py), so the attempts settle near what the quota grants.",
             f"- Operator CPU {r['cpu_seconds']:.1f} s, peak RSS {r['peak_rss_mib']:.0f} MiB.", "",
             "| phase | operation | forwarded | throttled | throttled share |", "|---|---|---:|---:|---:|", *rows,
             "", "![throttling](throttling.png)", "", "Raw figures:", "", "```json",
             json.dumps({k: v for k, v in r.items() if not k.endswith("_per_second")}, indent=1), "```", ""]
    write_report("throttling", lines)  # first: the figures are kept whatever the plot does
    plot(r)


if __name__ == "__main__":
    main()
