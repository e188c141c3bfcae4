"""stashsync and External Secrets Operator side by side on the same Secrets Manager workload, each on
a fresh local stack (real kube-apiserver + etcd, moto_server). Writes docs/benchmarks/eso.md.

For each N (BENCH_ESO_NS, default 500 and 5,000) and each layout (one Secrets Manager secret per
object, or ten objects per secret), N objects are created at once, each syncing its secret into its
own Secret, once the controller has validated the store (its set-up is not the objects' cost).
Measured: time from creating them to the last one seen Ready through a watch (bench/ready_watch.py;
given up after BENCH_ESO_LIMIT seconds, DEFAULTS_LIMIT for ESO defaults at 5,000, and then the Ready
count is reported), the controller's CPU seconds and peak RSS, Secrets Manager API calls (ESO:
externalsecret_provider_api_calls_count; stashsync: stashsync_aws_calls_total) to converge, and, up
to AT_REST_MAX_N objects, at rest over the next whole interval (calls per refresh interval, which is
calls per hour at refreshInterval 1h).

Calls at rest follow the objects (ESO: one read per object per refresh) or the distinct secrets, ten
to a ListSecrets call (stashsync), not the interval: a shorter interval only shortens the window, as
long as the controller refreshes every object within it, and as long as the interval is longer than
the convergence, or objects Ready early are read again on the way and those refreshes count as
convergence (calls and CPU). So each controller's interval at 500 is a round figure above its own
convergence there: stashsync 10s (500 Ready in under 6 s), ESO tuned 20s (under 11 s), ESO at its
defaults 60s (one reconcile at a time, about 10 objects/s: 500 take 50 s). At 5,000 objects every
controller takes longer than that to converge, and no ESO run could refresh every object within such
an interval, so a count there would measure its throughput, not its cost: no window there, and the
interval is an hour. A run that still converged after its interval is marked in the report.

Each workload's secrets are made once, in one moto_server that its runs share (they only read it);
the control plane and the controller are fresh for every run.

ESO v2.9.0 is built from its release source tree with only its AWS provider (`make eso`,
hack/build-eso.sh), its CRDs from the same tree, and run with its defaults (--concurrent 1,
--client-qps 50, --client-burst 100) and tuned (--concurrent 8, --client-qps 200, --client-burst 400)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from bench.local_stack import ROOT, Stack, local_stack, proc_figures, stamp
from bench.ready_watch import ReadyWatch
from bench.report import write_report
from tests.harness.kube import ready_condition, wait_for
from tests.harness.metrics import samples, scrape
from tests.harness.moto import MotoServer
from tests.harness.ports import free_port, wait_for_http_ok
from tests.harness.processes import Process
from tests.objects import TENANT_AUTH

from stashsync.api import API_VERSION, GROUP, VERSION

NS_SIZES = [int(n) for n in os.environ.get("BENCH_ESO_NS", "500,5000").split(",")]
LAYOUTS = {"1 secret per object": 1, "10 objects per secret": 10}
LIMIT = float(os.environ.get("BENCH_ESO_LIMIT", "150"))
# ESO at its defaults (one reconcile at a time) converges at about 10 objects/s: at 5,000 objects it
# is never Ready within LIMIT (it would take over 8 minutes), so its Ready count is taken sooner.
DEFAULTS_LIMIT = 15.0
AT_REST_MAX_N = 500
AT_REST_REFRESH_SECONDS = {"stashsync": 10, "ESO defaults": 60, "ESO tuned": 20}  # see the docstring
CONVERGE_ONLY_REFRESH_SECONDS = 3600  # above AT_REST_MAX_N: no window at rest, no refresh while converging
ESO_VERSION = "v2.9.0"
ESO_BIN = ROOT / ".cache" / "bin" / f"eso-{ESO_VERSION}" / "external-secrets"
ESO_SRC = ROOT / ".cache" / "eso-src" / f"external-secrets-{ESO_VERSION[1:]}"
ESO_RUNS = {"ESO defaults": ["--concurrent=1"],
            "ESO tuned": ["--concurrent=8", "--client-qps=200", "--client-burst=400"]}
NS = "bench"


def eso_crds() -> list[Path]:
    # All of them: ESO waits for the generators' kinds too.
    bases = ESO_SRC / "config/crds/bases"
    return sorted(p for p in bases.glob("*.yaml") if p.name != "kustomization.yaml")


def make_secrets(count: int) -> None:
    sm = boto3.client("secretsmanager")
    with ThreadPoolExecutor(8) as pool:  # 5,000 one by one take half a minute per run
        list(pool.map(lambda c: sm.create_secret(Name=f"app/c{c:05d}", SecretString=f"value-{c}"), range(count)))


def create_all(create: Any, docs: list[dict[str, Any]]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, docs))


def store_ready(stack: Stack, group: str, version: str, plural: str) -> None:
    """Until the controller has validated the store "sm": its set-up is not the objects' cost."""
    def ready() -> bool:
        body = stack.kube.custom.get_namespaced_custom_object(group, version, NS, plural, "sm")
        return (ready_condition(body) or {}).get("status") == "True"

    wait_for(ready, 60, f"{plural} sm Ready")


def counter_sum(url: str, name: str) -> float:
    """A counter's total over its labels; STS calls (session set-up) do not count as source calls."""
    return sum(s.value for s in samples(scrape(url), name) if s.labels.get("service") != "sts")


@dataclass(frozen=True)
class Workload:
    n: int
    per_secret: int  # objects reading one secret

    @property
    def secrets(self) -> int:
        return self.n // self.per_secret

    def secret_of(self, i: int) -> str:
        return f"app/c{i % self.secrets:05d}"


def refresh_seconds(n: int, controller: str) -> int:
    """The refreshInterval of a run (see the module's docstring)."""
    if n > AT_REST_MAX_N:
        return CONVERGE_ONLY_REFRESH_SECONDS
    return AT_REST_REFRESH_SECONDS[controller]


def measure(stack: Stack, pid: int, metrics_url: str, metric: str, create: Any, docs: list[dict[str, Any]],
            kind: tuple[str, str, str], n: int, refresh: int, limit: float = LIMIT) -> dict[str, Any]:
    _, cpu0 = proc_figures(pid)
    calls0 = counter_sum(metrics_url, metric)
    with ReadyWatch(stack.kube.api_client, kind[0], kind[1], NS, kind[2]) as watch:
        started = time.monotonic()
        create_all(create, docs)
        ready = watch.wait(n, started + limit)
        converged = ready >= n
        elapsed = (max(watch.times().values()) if converged else time.monotonic()) - started
    rss, cpu = proc_figures(pid)
    result: dict[str, Any] = {"converge_seconds": elapsed if converged else None, "ready": ready, "limit": limit,
                              "cpu_seconds": cpu - cpu0, "peak_rss_mib": rss,
                              "calls_to_converge": counter_sum(metrics_url, metric) - calls0,
                              "calls_per_interval_at_rest": None, "refresh_seconds": refresh}
    if converged and n <= AT_REST_MAX_N:
        before = counter_sum(metrics_url, metric)
        time.sleep(refresh)  # a whole interval: every object refreshes in it once (jitter aside)
        result["calls_per_interval_at_rest"] = counter_sum(metrics_url, metric) - before
    return result


def run_stashsync(w: Workload, aws: MotoServer) -> dict[str, Any]:
    with local_stack(NS, aws=aws) as stack:
        assert stack.operator is not None and stack.operator.process is not None
        custom = stack.kube.custom
        refresh = refresh_seconds(w.n, "stashsync")
        stack.kube.apply({"apiVersion": API_VERSION, "kind": "CredentialStore",
                          "metadata": {"name": "sm"},
                          "spec": {"secretsManager": {"region": "us-east-1"}, "auth": TENANT_AUTH}}, NS)
        store_ready(stack, GROUP, VERSION, "credentialstores")
        docs = [{"apiVersion": API_VERSION, "kind": "SyncedSecret", "metadata": {"name": f"s{i}"},
                 "spec": {"storeRef": {"name": "sm"}, "refreshInterval": f"{refresh}s",
                          "data": [{"key": "v", "name": w.secret_of(i)}]}} for i in range(w.n)]
        return measure(
            stack, stack.operator.process.popen.pid, stack.operator.metrics_url,  # type: ignore[union-attr]
            "stashsync_aws_calls_total",
            lambda d: custom.create_namespaced_custom_object(GROUP, VERSION, NS, "syncedsecrets", d),
            docs, (GROUP, VERSION, "syncedsecrets"), w.n, refresh)


def run_eso(w: Workload, flags: list[str], label: str, aws: MotoServer) -> dict[str, Any]:
    defaults = label == "ESO defaults"
    refresh = refresh_seconds(w.n, label)
    with local_stack(NS, with_operator=False, aws=aws) as stack:
        stack.kube.install_crds(eso_crds())
        stack.kube.core.create_namespaced_secret(NS, {"metadata": {"name": "aws"}, "stringData": {
            "access-key": "testing", "secret-key": "testing"}})
        custom = stack.kube.custom
        group, version = "external-secrets.io", "v1"
        custom.create_namespaced_custom_object(group, version, NS, "secretstores", {
            "apiVersion": f"{group}/{version}", "kind": "SecretStore", "metadata": {"name": "sm"},
            "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "us-east-1", "auth": {
                "secretRef": {"accessKeyIDSecretRef": {"name": "aws", "key": "access-key"},
                              "secretAccessKeySecretRef": {"name": "aws", "key": "secret-key"}}}}}}})
        metrics, live = free_port(), free_port()
        env = {"PATH": os.environ["PATH"], "KUBECONFIG": str(stack.kubeconfig), **stack.moto.env(),
               "AWS_ENDPOINT_URL": stack.moto.url, "AWS_SECRETSMANAGER_ENDPOINT": stack.moto.url,
               "AWS_STS_ENDPOINT": stack.moto.url}
        eso = Process("external-secrets", [
            str(ESO_BIN), f"--metrics-addr=127.0.0.1:{metrics}", f"--live-addr=127.0.0.1:{live}",
            "--enable-leader-election=false", "--loglevel=error", *flags],
            stack.kubeconfig.parent / f"eso-{label}.log", env).start()
        try:
            wait_for_http_ok(f"http://127.0.0.1:{metrics}/metrics", eso, 60, "ESO metrics")
            store_ready(stack, group, version, "secretstores")
            docs = [{"apiVersion": f"{group}/{version}", "kind": "ExternalSecret", "metadata": {"name": f"s{i}"},
                     "spec": {"refreshInterval": f"{refresh}s",
                              "secretStoreRef": {"name": "sm", "kind": "SecretStore"}, "target": {"name": f"s{i}"},
                              "data": [{"secretKey": "v", "remoteRef": {"key": w.secret_of(i)}}]}}
                    for i in range(w.n)]
            return measure(
                stack, eso.popen.pid, f"http://127.0.0.1:{metrics}/metrics",  # type: ignore[union-attr]
                "externalsecret_provider_api_calls_count_total",  # as the parser names a counter sample
                lambda d: custom.create_namespaced_custom_object(group, version, NS, "externalsecrets", d),
                docs, (group, version, "externalsecrets"), w.n, refresh,
                DEFAULTS_LIMIT if defaults and w.n > AT_REST_MAX_N else LIMIT)
        finally:
            eso.kill()  # its figures are read: a graceful shutdown would only add seconds to every run


def cpu_ms_per_ready(r: dict[str, Any]) -> float:
    """CPU per Ready object: a run given up early (ESO defaults at 5,000) spent little CPU in all
    because it made few objects Ready."""
    return 1000 * float(r["cpu_seconds"]) / max(1, int(r["ready"]))


def _figure(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(theirs: float | None, ours: float | None) -> str:
    return "-" if theirs is None or not ours else f"x{theirs / ours:.2f}"


def plot(results: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [(r["n"], r["layout"]) for r in results if r["controller"] == "stashsync"]
    controllers = list(dict.fromkeys(r["controller"] for r in results))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    width = 0.8 / len(controllers)
    figures: list[tuple[Any, Any, str]] = [
        (axes[0], lambda r: r["converge_seconds"] or 0, "time until all Ready (s; none: gave up)"),
        (axes[1], cpu_ms_per_ready, "controller CPU ms per Ready object"),
        (axes[2], lambda r: r["peak_rss_mib"], "controller peak RSS (MiB)")]
    for ax, figure, label in figures:
        for j, controller in enumerate(controllers):
            values = [next(figure(r) for r in results if (r["n"], r["layout"]) == case
                           and r["controller"] == controller) for case in cases]
            ax.bar([i + j * width for i in range(len(cases))], values, width, label=controller)
        ax.set_xticks([i + width for i in range(len(cases))],
                      [f"{n:,}\n{layout}" for n, layout in cases], fontsize=7)
        ax.set_title(label)
        ax.set_ylim(bottom=0)  # a truncated axis would exaggerate small differences
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ROOT / "docs/benchmarks/eso.png", dpi=110)


def main() -> None:
    if not ESO_BIN.exists():
        subprocess.run(["make", "-C", str(ROOT), "eso"], check=True)
    results: list[dict[str, Any]] = []
    for n in NS_SIZES:
        for layout, per_secret in LAYOUTS.items():
            w = Workload(n, per_secret)
            aws = MotoServer(Path(tempfile.mkdtemp(prefix="stashsync-bench-aws-"))).start()
            try:
                os.environ.update(aws.env())
                make_secrets(w.secrets)
                results.append({"n": n, "layout": layout, "controller": "stashsync", **run_stashsync(w, aws)})
                for label, flags in ESO_RUNS.items():
                    results.append({"n": n, "layout": layout, "controller": label,
                                    **run_eso(w, flags, label, aws)})
            finally:
                aws.stop()
                shutil.rmtree(aws.folder, ignore_errors=True)
    lines = ["# stashsync vs External Secrets Operator 2.9.0 (Secrets Manager)", "", stamp(), "",
             f"N objects created at once (8 client threads), each syncing one Secrets Manager secret into its own "
             "Secret, refreshInterval up to "
             f"{AT_REST_MAX_N:,} objects a round figure above each controller's own convergence there ("
             + ", ".join(f"{c} {s}s" for c, s in AT_REST_REFRESH_SECONDS.items()) + "), above that "
             f"{CONVERGE_ONLY_REFRESH_SECONDS // 3600}h (no object read twice while they converge); one secret per "
             "object, or ten objects per secret. A fresh "
             "control plane and controller per run; each workload's secrets in one moto_server its runs share. "
             "ESO v2.9.0 built from its release source (AWS provider only): defaults "
             f"({' '.join(ESO_RUNS['ESO defaults'])}, client QPS 50, burst 100) and tuned "
             f"({' '.join(ESO_RUNS['ESO tuned'])}). Calls are Secrets Manager calls counted by each controller's own "
             f"metrics. 'At rest' is the calls of the whole interval after all are Ready: calls per refresh "
             f"interval (per hour at refreshInterval 1h), measured up to {AT_REST_MAX_N:,} objects (see the "
             f"benchmark's docstring for why not at 5,000). Runs that were not all Ready after {LIMIT:.0f} s show "
             f"the Ready count instead of a time; ESO defaults at 5,000 is given {DEFAULTS_LIMIT:.0f} s (it converges "
             "at about 10 objects/s).", "",
             "| N | layout | controller | all Ready s | CPU s | CPU ms / object | peak RSS MiB | SM calls to converge "
             "| SM calls per interval at rest |", "|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        ready = (_figure(r["converge_seconds"], 1) if r["converge_seconds"]
                 else f"{r['ready']:,} Ready at {r['limit']:.0f} s")
        if (r["converge_seconds"] or 0) > r["refresh_seconds"]:
            ready += " (after its interval: some objects read twice)"
        lines.append(f"| {r['n']:,} | {r['layout']} | {r['controller']} | {ready} | {r['cpu_seconds']:.1f} | "
                     f"{cpu_ms_per_ready(r):.1f} | {r['peak_rss_mib']:.0f} | "
                     f"{r['calls_to_converge']:,.0f} | {_figure(r['calls_per_interval_at_rest'])} |")
    lines += ["", "Ratios, ESO / stashsync (time, CPU per Ready object, peak RSS, calls at rest):", ""]
    for r in results:
        if r["controller"] == "stashsync":
            ours = r
            continue
        lines.append(f"- {r['n']:,}, {r['layout']}, {r['controller']}: time "
                     f"{_ratio(r['converge_seconds'], ours['converge_seconds'])}, CPU per object "
                     f"{_ratio(cpu_ms_per_ready(r), cpu_ms_per_ready(ours))}, "
                     f"RSS {_ratio(r['peak_rss_mib'], ours['peak_rss_mib'])}, calls at rest "
                     f"{_ratio(r['calls_per_interval_at_rest'], ours['calls_per_interval_at_rest'])}")
    lines += ["", "![stashsync vs ESO](eso.png)", "", "Raw figures:", "", "```json", json.dumps(results, indent=1),
              "```", ""]
    write_report("eso", lines)  # first: the figures are kept whatever the plot does
    plot(results)


if __name__ == "__main__":
    main()
