"""How long a hostile tenant can delay another tenant's sync. Writes docs/benchmarks/hostile_delay.md.

A victim's SyncedSecret (refreshInterval 2s, with a template, so it shares the template sandbox)
follows a credential; each round writes a new version and times until the victim's Secret holds it.
First with the operator to itself, then while another namespace holds the objects of
tests/harness/hostile.py (endless and exploding templates, a backtracking regex, 40 objects on a
0.1 requests/s store), and once more while the hostile tenant's value changes every second, so no
render of it is answered from memory. The liveness probe is checked after each round."""

from __future__ import annotations

import os
import statistics
import threading
import time
import urllib.request

import boto3
from bench.local_stack import Stack, local_stack, stamp
from bench.report import write_report
from tests.harness.hostile import LONG_CREDENTIAL, REGEX_BAIT, hostile_objects
from tests.harness.kube import Kube, ready_condition, wait_for
from tests.objects import credstash_store, synced_secret, tenant_namespace

from stashsync.api import API_VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.sources.credstash import CredstashSource

ROUNDS = int(os.environ.get("BENCH_HOSTILE_ROUNDS", "10"))
REFRESH = "2s"
VICTIM, HOSTILE, TABLE = "victim", "hostile", "bench-hostile"



def _ready(kube: Kube) -> bool:
    return (ready_condition(kube.get(API_VERSION, "SyncedSecret", "app", VICTIM)) or {}).get("status") == "True"

def _rounds(stack: Stack, source: CredstashSource, label: str) -> list[float]:
    assert stack.operator is not None
    delays = []
    for i in range(ROUNDS):
        value = f"{label}-{i}"
        source.put("victim.token", value.encode(), source.next_version("victim.token"), {})
        written = time.monotonic()
        wanted = {"token": value, "line": f"t={value}"}
        wait_for(lambda: stack.kube.secret_data(VICTIM, "app") == wanted, 120,  # noqa: B023 - used at once
                 "the victim's new version in its Secret", interval=0.05)
        delays.append(time.monotonic() - written)
        with urllib.request.urlopen(stack.operator.liveness_url, timeout=5) as response:
            assert response.status == 200, "liveness failed"
    return delays


def _churn(source: CredstashSource, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        source.put(LONG_CREDENTIAL, b"L" * 2000 + str(time.time()).encode(), source.next_version(LONG_CREDENTIAL), {})


def _row(label: str, delays: list[float]) -> str:
    ordered = sorted(delays)
    return (f"| {label} | {len(delays)} | {statistics.median(delays):.2f} | "
            f"{ordered[round(0.9 * (len(ordered) - 1))]:.2f} | {max(delays):.2f} |")


def main() -> None:
    with local_stack(VICTIM) as stack:
        kube = stack.kube
        kms = boto3.client("kms")
        kms.create_alias(AliasName="alias/credstash", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
        source = CredstashSource(AwsClients(AwsAuth(region="us-east-1")), table=TABLE)
        source.create_table()
        source.put(LONG_CREDENTIAL, b"L" * 2000, 1, {})
        for bait in REGEX_BAIT:
            source.put(bait, b"bait", 1, {})
        source.put("victim.token", b"first", 1, {})
        kube.apply(credstash_store("main", TABLE), VICTIM)
        kube.apply(synced_secret("app", "main", [{"key": "token", "name": "victim.token"}], refreshInterval=REFRESH,
                                 target={"template": {"data": {"token": "{{ token }}", "line": "t={{ token }}"}}}),
                   VICTIM)
        wait_for(lambda: _ready(kube), 60, "the victim Ready")
        quiet = _rounds(stack, source, "quiet")
        tenant_namespace(kube, HOSTILE)
        for body in hostile_objects(TABLE):
            kube.apply(body, HOSTILE)
        wait_for(lambda: (ready_condition(kube.get(API_VERSION, "SyncedSecret", "endless-0", HOSTILE)) or {}).get(
            "reason") == "TemplateError", 60, "the hostile templates running into their budget")
        under_attack = _rounds(stack, source, "hostile")
        # A new value every second defeats the sandbox's memory of exhausting inputs: every endless
        # render then runs to its budget, and only the turns per tenant keep the victim's wait short.
        stop = threading.Event()
        churn = threading.Thread(target=_churn, args=(source, stop), daemon=True)
        churn.start()
        try:
            churning = _rounds(stack, source, "churning")
        finally:
            stop.set()
            churn.join()
    lines = ["# Hostile delay: another tenant's sync while a hostile tenant tries to stall the operator", "",
             stamp(), "", f"Command: `python -m bench.bench_hostile_delay` (BENCH_HOSTILE_ROUNDS={ROUNDS}).", "",
             f"Seconds from a new version written to the victim's Secret holding it (refreshInterval {REFRESH}, "
             "so up to about 2.2 s is the refresh period itself, with its ±10% jitter).", "",
             "| operator | rounds | median s | p90 s | max s |", "|---|---|---|---|---|",
             _row("victim only", quiet), _row("with the hostile objects", under_attack),
             _row("with the hostile objects, their value changing every second", churning), "",
             "Liveness answered 200 after every round. The hostile objects: 4 templates looping over a "
             "2,000-character value, `'a' * 400000000`, `10 ** 10000000`, `dataFrom.find: /(.*.*)*y/` and 40 "
             "objects on a store limited to 0.1 requests/s (more than the 32 worker threads)."]
    write_report("hostile_delay", lines)


if __name__ == "__main__":
    main()
