"""Unwrap latency: a WrappedSecret applied -> Ready=True with the Secret written, on the local harness
(real kube-apiserver + etcd, moto_server, the operator under kopf). Writes docs/benchmarks/unwrap.md.

Sequential: one token at a time, the latency a user sees. Burst: N applied at once, time until all
are Ready. Tokens lost (consumed without a Secret) must be 0."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
from bench.local_stack import local_stack, stamp
from bench.ready_watch import ReadyWatch
from bench.report import write_report
from tests.integration.helpers import wait_ready
from tests.objects import TENANT_AUTH

from stashsync.api import API_VERSION, GROUP, VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.sources.wrap import DirectWrapService, seal_client_layer

SEQUENTIAL = int(os.environ.get("BENCH_UNWRAP_SEQUENTIAL", "30"))
BURST = int(os.environ.get("BENCH_UNWRAP_BURST", "1000"))
# moto deep-copies a whole table for every TransactWriteItems (its rollback), so one table of 1,000
# tokens makes the emulator, not the operator, the bottleneck; real DynamoDB transactions do not
# depend on table size. The burst is spread over tables of 50 tokens.
TABLES = max(1, BURST // 50)
NS = "bench"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    with local_stack(NS) as stack:
        kube = stack.kube
        kms, ddb = boto3.client("kms"), boto3.client("dynamodb")
        for alias in ("alias/wrap-client", "alias/wrap-service"):
            kms.create_alias(AliasName=alias, TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
        clients = AwsClients(AwsAuth(region="us-east-1"))
        tables = [f"wrap-{t:02d}" for t in range(TABLES)]
        for table in tables:
            ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                        {"AttributeName": "sk", "KeyType": "RANGE"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                   {"AttributeName": "sk", "AttributeType": "S"}])
            kube.apply({"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": table},
                        "spec": {"wrap": {"table": table, "region": "us-east-1"}, "auth": TENANT_AUTH}}, NS)

        def token(value: str, table: str) -> str:
            client_value, data_key = seal_client_layer(clients, value.encode(), "alias/wrap-client")
            return DirectWrapService(clients, table, "alias/wrap-service").wrap(
                client_value, data_key, "alias/wrap-client", int(time.time()) + 3600)

        for table in tables:
            wait_ready(kube, NS, table, kind="CredentialStore")

        latencies = []
        for i in range(SEQUENTIAL):
            t, name = token(f"value-{i}", tables[0]), f"seq-{i}"
            started = time.perf_counter()
            kube.apply({"apiVersion": API_VERSION, "kind": "WrappedSecret", "metadata": {"name": name},
                        "spec": {"storeRef": {"name": tables[0]}, "token": t}}, NS)
            wait_ready(kube, NS, name, kind="WrappedSecret", interval=0.01)
            latencies.append(time.perf_counter() - started)

        with ThreadPoolExecutor(8) as pool:
            made = list(pool.map(lambda i: (f"burst-{i}-{uuid.uuid4().hex[:6]}", tables[i % TABLES],
                                            token(f"burst-{i}", tables[i % TABLES])), range(BURST)))
        tokens = {name: (table, t) for name, table, t in made}
        applied: dict[str, float] = {}
        with ReadyWatch(kube.api_client, GROUP, VERSION, NS, "wrappedsecrets") as watch:
            started = time.monotonic()
            for name, (table, t) in tokens.items():
                kube.apply({"apiVersion": API_VERSION, "kind": "WrappedSecret", "metadata": {"name": name},
                            "spec": {"storeRef": {"name": table}, "token": t}}, NS)
                applied[name] = time.monotonic()
            watch.wait(SEQUENTIAL + BURST, started + 900)  # the sequential ones were Ready before
            ready_at = watch.times()
        # Each token's latency: from its own apply to the watch event that shows it Ready.
        done = {name: ready_at[name] - applied[name] for name in tokens if name in ready_at}
        burst_seconds = max((ready_at[name] for name in done), default=time.monotonic()) - started
        burst_ms = [x * 1000 for x in done.values()]
        secrets = {s.metadata.name for s in kube.core.list_namespaced_secret(NS).items}
        lost = sum(1 for n in [*tokens, *(f"seq-{i}" for i in range(SEQUENTIAL))] if n not in secrets)
        remaining = sum(ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                                  ExpressionAttributeValues={":p": {"S": "WRAPPED_SECRET"}})["Count"]
                        for table in tables)

    ms = [x * 1000 for x in latencies]
    lines = [
        "# Unwrap latency (WrappedSecret applied -> Ready, Secret written)", "",
        stamp() + " Direct mode: claim, two KMS Decrypts, Secret write, consume transaction, status.", "",
        "| run | tokens | p50 ms | p99 ms | min ms | max ms | total s | tokens lost | items left |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| sequential | {SEQUENTIAL} | {statistics.median(ms):.0f} | {percentile(ms, 0.99):.0f} | {min(ms):.0f} | "
        f"{max(ms):.0f} | {sum(latencies):.1f} | - | - |",
        f"| burst (applied back to back) | {BURST} | {statistics.median(burst_ms):.0f} | "
        f"{percentile(burst_ms, 0.99):.0f} | {min(burst_ms):.0f} | {max(burst_ms):.0f} | {burst_seconds:.1f} | "
        f"{lost} | {remaining} |", "",
        f"The burst is spread over {TABLES} wrap tables (stores) of {BURST // TABLES} tokens: moto copies a "
        "whole table for every TransactWriteItems, which real DynamoDB does not. "
        "Burst latency is per token, from its own apply to Ready; it includes queueing behind the tokens "
        "applied before it. Tokens lost: consumed from the table with no Secret written (must be 0); items "
        "left: tokens still in the table (0: each was consumed exactly once).", ""]
    write_report("unwrap", lines)


if __name__ == "__main__":
    main()
