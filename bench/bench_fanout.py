"""What a ClusterSyncedSecret's fan-out costs in AWS calls: one namespace against 200, reading the
same credentials, counted by the operator's own `stashsync_aws_calls_total` against moto_server.
Writes docs/benchmarks/fanout.md.

ESO's ClusterExternalSecret makes one ExternalSecret per namespace, each polling its provider, so
its bill grows with the namespaces; stashsync's SyncedSecrets share their version checks."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3
from bench.local_stack import Stack, aws_calls, delta, local_stack, stamp
from bench.report import write_report
from tests.harness.kube import ready_condition, wait_for
from tests.objects import cluster_credstash_store, cluster_synced_secret

from stashsync.api import API_VERSION, GROUP, VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.sources.credstash import CredstashSource

COUNTS = [int(n) for n in os.environ.get("BENCH_FANOUT_NAMESPACES", "1,200").split(",")]
CREDENTIALS = 2
INTERVAL = 5.0
ROUNDS = int(os.environ.get("BENCH_FANOUT_ROUNDS", "2"))
TABLE = "fanout-creds"


def syncs(stack: Stack) -> float:
    assert stack.operator is not None
    return stack.operator.metric("stashsync_syncs_total", kind="SyncedSecret", reason="Synced")


def measure(stack: Stack, namespaces: int) -> dict[str, Any]:
    kube = stack.kube
    label = {"fanout": str(namespaces)}
    for i in range(namespaces):
        name = kube.create_namespace(f"fan-{namespaces}-{i:03d}")
        kube.core.patch_namespace(name, {"metadata": {"labels": label}})
    name = f"fanout-{namespaces}"
    data = [{"key": f"c{i}", "name": f"c{i}"} for i in range(CREDENTIALS)]
    before, started = aws_calls(stack), time.monotonic()
    kube.apply(cluster_synced_secret(name, "shared", data, selector=label, refreshInterval=f"{INTERVAL:.0f}s"))

    def provisioned() -> bool:
        body = kube.get(API_VERSION, "ClusterSyncedSecret", name) or {}
        condition = ready_condition(body)
        return bool(condition and condition["status"] == "True"
                    and (body.get("status") or {}).get("namespaces") == namespaces)

    wait_for(provisioned, 600, f"{name} Ready in {namespaces} namespaces")
    converge_seconds = time.monotonic() - started
    first = delta(aws_calls(stack), before)
    time.sleep(INTERVAL * 1.5)  # past every object's first refresh
    before, syncs_before, window_started = aws_calls(stack), syncs(stack), time.monotonic()
    time.sleep(INTERVAL * ROUNDS)
    steady, window = delta(aws_calls(stack), before), time.monotonic() - window_started
    refreshes = syncs(stack) - syncs_before
    kube.custom.delete_cluster_custom_object(GROUP, VERSION, "clustersyncedsecrets", name)
    wait_for(lambda: kube.get(API_VERSION, "ClusterSyncedSecret", name) is None, 120, f"{name} deleted")
    intervals = window / INTERVAL
    return {"namespaces": namespaces, "converge_seconds": round(converge_seconds, 1), "first_sync_calls": first,
            "refreshes": refreshes, "intervals": round(intervals, 2),
            "calls_per_interval": {k: round(v / intervals, 2) for k, v in steady.items()}}


def main() -> None:
    with local_stack("bench") as stack:
        kms = boto3.client("kms")
        kms.create_alias(AliasName="alias/credstash", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
        source = CredstashSource(AwsClients(AwsAuth(region="us-east-1")), table=TABLE)
        source.create_table()
        for i in range(CREDENTIALS):
            source.put(f"c{i}", f"value-{i}".encode(), source.next_version(f"c{i}"), {})
        stack.kube.apply(cluster_credstash_store("shared", TABLE))
        results = [measure(stack, n) for n in COUNTS]
    lines = ["# ClusterSyncedSecret fan-out: AWS calls against the number of namespaces", "", stamp(), "",
             f"One ClusterSyncedSecret with {CREDENTIALS} credstash credentials, refreshInterval {INTERVAL:.0f} s, "
             f"selecting N namespaces by label; steady state measured over {ROUNDS} intervals with the "
             "operator's `stashsync_aws_calls_total`. Without shared checks (one poller per namespace, as "
             f"ESO's ClusterExternalSecret makes) a refresh round costs N x {CREDENTIALS} version checks.", "",
             "| namespaces | provisioned and Ready in | first syncs: AWS calls | refreshes in the window "
             "| AWS calls per interval, at rest | one poller per namespace would make |",
             "|---:|---:|---|---:|---|---:|"]
    for r in results:
        per = ", ".join(f"{k} {v:g}" for k, v in sorted(r["calls_per_interval"].items())) or "none"
        first = ", ".join(f"{k} {v:g}" for k, v in sorted(r["first_sync_calls"].items()))
        lines.append(f"| {r['namespaces']} | {r['converge_seconds']} s | {first} | {r['refreshes']:g} | {per} | "
                     f"{r['namespaces'] * CREDENTIALS} Query |")
    lines += ["", "Raw figures:", "", "```json", json.dumps(results, indent=1, sort_keys=True), "```", ""]
    write_report("fanout", lines)


if __name__ == "__main__":
    main()
