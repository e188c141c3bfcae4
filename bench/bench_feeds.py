"""Rotation latency with change feeds, and what an idle hour costs with and without one. Writes
docs/benchmarks/feeds.md.

Latency: a SyncedSecret with refreshInterval 1h; a new version is written at the source and the
time until the Secret holds it is measured, ROTATIONS times: credstash with its DynamoDB stream, and
Secrets Manager with an SQS queue (moto emits no EventBridge events: the bench sends the exact event
EventBridge would, right after the write, as the rule would). Without a feed the same change waits
for the next refresh: on average half the refreshInterval.

Cost at rest: OBJECTS SyncedSecrets over OBJECTS credstash credentials, refreshInterval 15s, AWS calls
counted by the operator over REST_SECONDS and scaled to an hour; without a feed, and with the stream
and backstopInterval 24h (measured once every object has synced since the feed was read, so each
runs on the backstop). The latency stores are deleted first, so only one feed runs."""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from typing import Any

import boto3
from bench.local_stack import Stack, aws_calls, delta, local_stack, stamp
from bench.report import write_report
from tests.harness.kube import ready_condition, wait_for
from tests.objects import TENANT_AUTH

from stashsync.api import API_VERSION, GROUP, VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.sources.credstash import CredstashSource

NS = "bench"
ROTATIONS = int(os.environ.get("BENCH_FEEDS_ROTATIONS", "20"))
OBJECTS = int(os.environ.get("BENCH_FEEDS_OBJECTS", "50"))
REST_SECONDS = float(os.environ.get("BENCH_FEEDS_REST_SECONDS", "15"))  # one whole interval
INTERVAL = 15.0  # short, so the rest windows are: calls are scaled to an hour


def secret_value(stack: Stack, name: str) -> str | None:
    return (stack.kube.secret_data(NS, name) or {}).get("k")


def ready(stack: Stack, kind: str, name: str) -> bool:
    c = ready_condition(stack.kube.get(API_VERSION, kind, name, NS))
    return bool(c and c["status"] == "True")


def feed_ready(stack: Stack, store: str) -> bool:
    body = stack.kube.get(API_VERSION, "CredentialStore", store, NS) or {}
    return any(c["type"] == "FeedReady" and c["status"] == "True"
               for c in (body.get("status") or {}).get("conditions") or [])


def store(name: str, provider: dict[str, Any], feed: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {**provider, "auth": TENANT_AUTH, "rateLimit": {"requestsPerSecond": 500, "burst": 500}}
    if feed is not None:
        spec["changeFeed"] = feed
    return {"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": name}, "spec": spec}


def synced(name: str, store_name: str, credential: str, interval: str) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "SyncedSecret", "metadata": {"name": name},
            "spec": {"storeRef": {"name": store_name}, "data": [{"key": "k", "name": credential}],
                     "refreshInterval": interval}}


def latencies(stack: Stack, name: str, write: Any) -> list[float]:
    found = []
    for i in range(ROTATIONS):
        value = f"v{i}-{uuid.uuid4().hex[:6]}"
        started = time.monotonic()
        write(value)
        wait_for(lambda v=value: secret_value(stack, name) == v, 60, f"rotation {i} of {name}",  # type: ignore[misc]
                 interval=0.05)
        found.append(time.monotonic() - started)
        time.sleep(0.1)
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def credstash_latency(stack: Stack, source: CredstashSource) -> list[float]:
    source.put("lat.key", b"v", source.next_version("lat.key"), {})
    stack.kube.apply(store("stream", {"credstash": {"table": source.table, "region": "us-east-1"}},
                           {"dynamodbStream": {}}), NS)
    stack.kube.apply(synced("lat-credstash", "stream", "lat.key", "1h"), NS)
    wait_for(lambda: ready(stack, "SyncedSecret", "lat-credstash") and feed_ready(stack, "stream"), 60, "ready")
    return latencies(stack, "lat-credstash",
                     lambda v: source.put("lat.key", v.encode(), source.next_version("lat.key"), {}))


def secrets_manager_latency(stack: Stack) -> list[float]:
    sm, sqs = boto3.client("secretsmanager"), boto3.client("sqs")
    arn = sm.create_secret(Name="lat/secret", SecretString="v")["ARN"]
    queue = sqs.create_queue(QueueName=f"{NS}-changes")["QueueUrl"]  # a queue the test tenancy allows
    stack.kube.apply(store("sm", {"secretsManager": {"region": "us-east-1"}}, {"sqs": {"queueUrl": queue}}), NS)
    stack.kube.apply(synced("lat-sm", "sm", "lat/secret", "1h"), NS)
    wait_for(lambda: ready(stack, "SyncedSecret", "lat-sm") and feed_ready(stack, "sm"), 60, "ready")

    def write(value: str) -> None:
        sm.put_secret_value(SecretId="lat/secret", SecretString=value)
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.secretsmanager", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": "us-east-1", "resources": [],
            "detail": {"eventName": "PutSecretValue", "requestParameters": {"secretId": arn}}}))
    return latencies(stack, "lat-sm", write)


def at_rest(stack: Stack, source: CredstashSource, label: str, feed: dict[str, Any] | None) -> dict[str, float]:
    store_name = f"rest-{label}"
    stack.kube.apply(store(store_name, {"credstash": {"table": source.table, "region": "us-east-1"}}, feed), NS)
    names = [f"{store_name}-{i:03d}" for i in range(OBJECTS)]
    for i, name in enumerate(names):
        stack.kube.apply(synced(name, store_name, f"rest.{i:03d}", f"{INTERVAL:.0f}s"), NS)
    wait_for(lambda: all(ready(stack, "SyncedSecret", n) for n in names), 300, f"{label} objects ready")
    if feed is not None:
        wait_for(lambda: feed_ready(stack, store_name), 60, "feed ready")
        time.sleep(INTERVAL * 1.2)  # every object syncs once more, and then runs on the backstop
    else:
        time.sleep(5)
    before, started = aws_calls(stack), time.monotonic()
    time.sleep(REST_SECONDS)
    after, elapsed = aws_calls(stack), time.monotonic() - started
    for name in names:
        stack.kube.custom.delete_namespaced_custom_object(GROUP, VERSION, NS, "syncedsecrets", name)
    stack.kube.custom.delete_namespaced_custom_object(GROUP, VERSION, NS, "credentialstores", store_name)
    # Neither store here reads SQS: a long poll of the latency store's queue reader, deleted before,
    # may still end inside the window.
    return {k: round(v * 3600 / elapsed) for k, v in delta(after, before).items() if not k.startswith("sqs.")}


def main() -> None:
    with local_stack(NS) as stack:
        kms = boto3.client("kms")
        kms.create_alias(AliasName="alias/credstash", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
        source = CredstashSource(AwsClients(AwsAuth(region="us-east-1")), table="bench-feeds")
        source.create_table()
        source.enable_stream()
        for i in range(OBJECTS):
            source.put(f"rest.{i:03d}", b"value", 1, {})
        credstash = credstash_latency(stack, source)
        sm = secrets_manager_latency(stack)
        for kind, name in (("syncedsecrets", "lat-credstash"), ("syncedsecrets", "lat-sm"),
                           ("credentialstores", "stream"), ("credentialstores", "sm")):
            stack.kube.custom.delete_namespaced_custom_object(GROUP, VERSION, NS, kind, name)
        for kind, name in (("CredentialStore", "stream"), ("CredentialStore", "sm")):  # their feed readers stopped
            wait_for(lambda k=kind, n=name: stack.kube.get(API_VERSION, k, n, NS) is None, 60,  # type: ignore[misc]
                     f"{name} gone")
        polling = at_rest(stack, source, "polling", None)
        streamed = at_rest(stack, source, "stream", {"dynamodbStream": {}, "backstopInterval": "24h"})
    rows = [("credstash, DynamoDB stream", credstash), ("Secrets Manager, SQS (EventBridge event)", sm)]
    lines = ["# Change feeds: rotation latency and the cost of an idle hour", "", stamp(), "",
             f"Latency: one SyncedSecret with refreshInterval 1h, {ROTATIONS} rotations each, from the write at "
             "the source to the Secret holding the new value (the bench polls the Secret every 0.05 s, so figures "
             "include up to 0.05 s of that). Without a feed a change waits for the next refresh: 30 min on "
             "average at 1h.", "",
             "| source and feed | p50 | p99 | max |", "|---|---:|---:|---:|"]
    for label, values in rows:
        lines.append(f"| {label} | {statistics.median(values):.2f} s | {percentile(values, 0.99):.2f} s | "
                     f"{max(values):.2f} s |")
    lines += ["", f"At rest: {OBJECTS} SyncedSecrets over {OBJECTS} credstash credentials, refreshInterval "
              f"{INTERVAL:.0f} s, "
              f"calls counted for {REST_SECONDS:.0f} s and scaled to an hour.", "",
              "| setup | AWS calls per hour at rest |", "|---|---|"]
    for label, calls in ((f"polling every {INTERVAL:.0f} s (no feed)", polling),
                         ("DynamoDB stream, backstopInterval 24h", streamed)):
        total = sum(calls.values())
        lines.append(f"| {label} | {total} ({', '.join(f'{k} {v}' for k, v in sorted(calls.items()))}) |")
    lines += ["", "The stream reader polls each shard once a second (GetRecords, 3,600 an hour per shard, whatever "
              "the number of objects); an idle SQS feed costs 180 ReceiveMessage an hour (20 s long polls).", "",
              "Raw figures:", "", "```json",
              json.dumps({"credstash": credstash, "secretsmanager": sm, "polling": polling, "stream": streamed},
                         indent=1), "```", ""]
    write_report("feeds", lines)


if __name__ == "__main__":
    main()
