"""What a refresh costs in AWS calls, per source, counted by the operator's own metrics
(stashsync_aws_calls_total) against moto_server. Writes docs/benchmarks/refresh_cost.md.

One SyncedSecret holding N credentials (N=20 by default) refreshes every 2 s. Steady: calls per
refresh with nothing changed. Change: the calls of the refresh that picks up one new version.
The baseline is what a GetSecretValue-style operator pays: one value read (and one decryption)
per credential per refresh."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import boto3
from bench.local_stack import Stack, aws_calls, delta, local_stack, stamp
from bench.report import write_report
from tests.harness.kube import ready_condition, wait_for
from tests.objects import TENANT_AUTH

from stashsync.api import API_VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.sources.credstash import CredstashSource
from stashsync.sources.s3 import S3Source

N = int(os.environ.get("BENCH_REFRESH_N", "20"))
STEADY_SECONDS = float(os.environ.get("BENCH_REFRESH_SECONDS", "4"))  # two refreshes: each costs the same
NS = "bench"
REGION = "us-east-1"


def syncs(stack: Stack) -> float:
    assert stack.operator is not None
    return stack.operator.metric("stashsync_syncs_total", kind="SyncedSecret")


class Case:
    """One source: how to make its store and credentials, and how to change one."""

    def __init__(self, name: str, store: dict[str, Any], put: Callable[[int, str], object]) -> None:
        self.name, self.store, self.put = name, store, put


def cases() -> list[Case]:
    kms = boto3.client("kms")
    clients = AwsClients(AwsAuth(region=REGION))
    kms.create_alias(AliasName="alias/credstash", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    kms.create_alias(AliasName="alias/lazycred", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    credstash = CredstashSource(clients, table="bench-creds")
    credstash.create_table()
    boto3.client("s3").create_bucket(Bucket="bench-lazy")
    lazy = S3Source(clients, "bench-lazy", "creds/")
    sm, ssm = boto3.client("secretsmanager"), boto3.client("ssm")
    made: set[str] = set()

    def sm_put(i: int, value: str) -> None:
        if f"sm{i}" in made:
            sm.put_secret_value(SecretId=f"app/c{i:03d}", SecretString=value)
        else:
            sm.create_secret(Name=f"app/c{i:03d}", SecretString=value)
            made.add(f"sm{i}")

    return [
        Case("credstash (DynamoDB + KMS)", {"credstash": {"table": "bench-creds", "region": REGION}},
             lambda i, v: credstash.put(f"c{i:03d}", v.encode(), credstash.next_version(f"c{i:03d}"), {})),
        Case("Secrets Manager", {"secretsManager": {"region": REGION}}, sm_put),
        Case("Parameter Store (SecureString)", {"parameterStore": {"region": REGION, "path": "/app"}},
             lambda i, v: ssm.put_parameter(Name=f"/app/c{i:03d}", Value=v, Type="SecureString", Overwrite=True)),
        Case("S3 (lazycred)", {"s3": {"bucket": "bench-lazy", "prefix": "creds/", "region": REGION}},
             lambda i, v: lazy.put(f"c{i:03d}", v.encode())),
    ]


def measure(stack: Stack, case: Case, index: int) -> dict[str, Any]:
    kube = stack.kube
    for i in range(N):
        case.put(i, f"value-{i}-1")
    store, ssec = f"store{index}", f"ssec{index}"
    kube.apply({"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": store},
                "spec": {**case.store, "auth": TENANT_AUTH}}, NS)
    data = [{"key": f"c{i:03d}", "name": f"app/c{i:03d}" if "secretsManager" in case.store else f"c{i:03d}"}
            for i in range(N)]
    before = aws_calls(stack)
    kube.apply({"apiVersion": API_VERSION, "kind": "SyncedSecret", "metadata": {"name": ssec},
                "spec": {"storeRef": {"name": store}, "data": data, "refreshInterval": "2s"}}, NS)

    def ready() -> bool:
        c = ready_condition(kube.get(API_VERSION, "SyncedSecret", ssec, NS))
        return bool(c and c["status"] == "True")

    wait_for(ready, 120, f"{ssec} Ready")
    first = delta(aws_calls(stack), before)
    time.sleep(3)
    before, syncs_before = aws_calls(stack), syncs(stack)
    time.sleep(STEADY_SECONDS)
    steady, refreshes = delta(aws_calls(stack), before), syncs(stack) - syncs_before
    # One change: new version of one credential; count calls until the Secret holds it.
    before = aws_calls(stack)
    case.put(0, "value-0-2")
    wait_for(lambda: (kube.secret_data(NS, ssec) or {}).get("c000") == "value-0-2", 60, "change synced")
    change = delta(aws_calls(stack), before)
    kube.resource(API_VERSION, "SyncedSecret").delete(name=ssec, namespace=NS)
    wait_for(lambda: kube.get(API_VERSION, "SyncedSecret", ssec, NS) is None, 60, f"{ssec} deleted")
    per_refresh = {k: v / refreshes for k, v in steady.items()}
    return {"source": case.name, "refreshes": refreshes, "first_sync": first, "steady": per_refresh,
            "change": change}


def fmt(calls: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}".replace(".0 ", " ") if not v.is_integer() else f"{k} {int(v)}"
                     for k, v in sorted(calls.items())) or "none"


def main() -> None:
    with local_stack(NS) as stack:
        results = [measure(stack, case, i) for i, case in enumerate(cases())]
    lines = ["# Refresh cost: AWS calls per refresh, by source", "", stamp(), "",
             f"One SyncedSecret with N = {N} credentials, refreshInterval 2 s, {STEADY_SECONDS:.0f} s of steady "
             "state; counted by the operator's `stashsync_aws_calls_total`. 'Per change' is every call from "
             "writing a new version of one credential until the Secret holds it (including any refreshes in "
             "between).", "",
             "| source | first sync: calls | steady: calls per refresh | steady: KMS calls | one new version: calls "
             "| baseline: one read per credential |", "|---|---|---|---:|---|---:|"]
    for r in results:
        kms = sum(v for k, v in r["steady"].items() if k.startswith("kms."))
        total = sum(r["steady"].values())
        lines.append(f"| {r['source']} | {fmt(r['first_sync'])} | {fmt(r['steady'])} (total {total:.1f}) | {kms:.0f} | "
                     f"{fmt(r['change'])} | {N} reads + {N} decrypts |")
    lines += ["", "Raw figures:", "", "```json", json.dumps(results, indent=1, sort_keys=True), "```", ""]
    write_report("refresh_cost", lines)


if __name__ == "__main__":
    main()
