"""Rotation latency: a new credstash version -> the Secret holds it -> the Deployment using it is
restarted. Writes docs/benchmarks/rotation.md.

ROTATIONS SyncedSecrets (refreshInterval 10s), each with its own credential and Deployment; a new
version of each is written at a random moment over two intervals. Measured per rotation: until the
Secret holds the new value (bounded by the refresh interval: polling is the only way to learn of a
new credstash version without a change feed), and until the Deployment's pod template carries the
restart annotation (that, plus the restart coordinator's quiet window, `restarts.window`, 10 s by
default). The local control plane runs no Deployment controller to report rollouts done, so the
coordinator's cap on rollouts in flight is raised to ROTATIONS here; otherwise each restart would
hold its slot for the whole progress timeout."""

from __future__ import annotations

import os
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from bench.local_stack import local_stack, stamp
from bench.report import write_report
from tests.harness.kube import wait_for
from tests.objects import TENANT_AUTH

from stashsync.api import API_VERSION, GROUP, VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.kube.rollout import RESTART_ANNOTATION
from stashsync.sources.credstash import CredstashSource

ROTATIONS = int(os.environ.get("BENCH_ROTATIONS", "40"))
REFRESH_SECONDS = 10
NS = "bench"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure() -> dict[str, Any]:
    with local_stack(NS, operator_env={"STASHSYNC_RESTART_MAX_CONCURRENT": str(ROTATIONS)}) as stack:
        kube = stack.kube
        kms = boto3.client("kms")
        kms.create_alias(AliasName="alias/credstash", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
        source = CredstashSource(AwsClients(AwsAuth(region="us-east-1")), table="bench-creds")
        source.create_table()
        kube.apply({"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": "main"},
                    "spec": {"credstash": {"table": "bench-creds", "region": "us-east-1"}, "auth": TENANT_AUTH}}, NS)
        for i in range(ROTATIONS):
            source.put(f"rot.{i}", f"rot-{i}-v1".encode(), 1, {})
            kube.apps.create_namespaced_deployment(NS, {"metadata": {"name": f"web{i}"}, "spec": {
                "selector": {"matchLabels": {"app": f"web{i}"}}, "template": {
                    "metadata": {"labels": {"app": f"web{i}"}},
                    "spec": {"containers": [{"name": "app", "image": "registry.invalid/app",
                                             "envFrom": [{"secretRef": {"name": f"rot{i}"}}]}]}}}})
        docs = [{"apiVersion": API_VERSION, "kind": "SyncedSecret", "metadata": {"name": f"rot{i}"},
                 "spec": {"storeRef": {"name": "main"}, "data": [{"key": "v", "name": f"rot.{i}"}],
                          "refreshInterval": f"{REFRESH_SECONDS}s", "rolloutRestartTargets": [{"name": f"web{i}"}]}}
                for i in range(ROTATIONS)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda d: kube.custom.create_namespaced_custom_object(GROUP, VERSION, NS, "syncedsecrets",
                                                                                 d), docs))
        wait_for(lambda: all((kube.custom.get_namespaced_custom_object(
            GROUP, VERSION, NS, "syncedsecrets", f"rot{i}").get("status") or {}).get("rolloutMAC")
            for i in range(ROTATIONS)), 120, "rotation objects synced")
        started: dict[int, float] = {}
        rng = random.Random(7)
        for i in range(ROTATIONS):  # spread over two intervals, as real rotations land at any moment
            time.sleep(rng.uniform(0, 2 * REFRESH_SECONDS / ROTATIONS))
            source.put(f"rot.{i}", f"rot-{i}-v2".encode(), 2, {})
            started[i] = time.monotonic()
        secret_at: dict[int, float] = {}
        restart_at: dict[int, float] = {}
        deadline = time.monotonic() + 120
        while len(restart_at) < ROTATIONS and time.monotonic() < deadline:
            now = time.monotonic()
            for i in range(ROTATIONS):
                if i not in secret_at and kube.secret_data(NS, f"rot{i}") == {"v": f"rot-{i}-v2"}:
                    secret_at[i] = now - started[i]
            for d in kube.apps.list_namespaced_deployment(NS).items:
                i = int(d.metadata.name[3:])
                if i not in restart_at and (d.spec.template.metadata.annotations or {}).get(RESTART_ANNOTATION):
                    restart_at[i] = now - started[i]
            time.sleep(0.2)
        return {"secret_seconds": sorted(secret_at.values()), "restart_seconds": sorted(restart_at.values())}


def row(label: str, values: list[float]) -> str:
    if not values:
        return f"| {label} | 0 of {ROTATIONS} | - | - | - | - |"
    return (f"| {label} | {len(values)} of {ROTATIONS} | {statistics.median(values):.1f} | "
            f"{percentile(values, 0.99):.1f} | {min(values):.1f} | {max(values):.1f} |")


def main() -> None:
    import json

    result = measure()
    lines = ["# Rotation latency", "", stamp(), "", __doc__.split("\n\n", 1)[1].replace("\n", " ").strip(), "",
             f"refreshInterval {REFRESH_SECONDS}s, restart quiet window 10 s (the default).", "",
             "| new version until | observed | p50 s | p99 s | min s | max s |", "|---|---:|---:|---:|---:|---:|",
             row("the Secret holds it", result["secret_seconds"]),
             row("the Deployment is restarted", result["restart_seconds"]),
             "", "Raw figures:", "", "```json", json.dumps(result, indent=1), "```", ""]
    write_report("rotation", lines)


if __name__ == "__main__":
    main()
