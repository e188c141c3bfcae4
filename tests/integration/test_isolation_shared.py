"""Every mechanism the operator shares between tenants gives each namespace its share: while a tenant
of one namespace (`namespace`) attacks it, another tenant's (`victim`) rotation still reaches its
Secret within its own refreshInterval and a small margin. Real apiserver, moto, the operator under
kopf. Each test prints the victim's delay."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from stashsync.api import API_VERSION, GROUP, VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.cli.main import main as cli
from stashsync.kube.labels import FORCE_SYNC_ANNOTATION
from stashsync.kube.rollout import RESTART_ANNOTATION
from stashsync.sources.credstash import CredstashSource
from tests.harness.fault_proxy import FaultProxy
from tests.harness.kube import Kube, ready_condition, wait_for
from tests.harness.leaks import plaintext
from tests.harness.moto import MotoServer
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import VICTIM_MARGIN, victim_rotation, wait_ready, warning_reasons
from tests.objects import TENANT_AUTH, cluster_credstash_store, credstash_store, synced_secret

pytestmark = pytest.mark.integration


def _put(table: str, name: str, value: str, add: bool = False) -> None:
    assert cli(["put", *(["-a"] if add else []), "-t", table, name, plaintext(value)]) == 0


def _put_many(table: str, names: list[str], prefix: str) -> None:
    """Many credentials at once, without a CLI run (and its clients) per credential."""
    source = CredstashSource(AwsClients(AwsAuth(region="us-east-1")), table=table)
    for name in names:
        source.put(name, plaintext(f"{prefix}-{name}-value").encode(), 1, {})


def _value(kube: Kube, namespace: str, name: str = "app", key: str = "k") -> str | None:
    return (kube.secret_data(namespace, name) or {}).get(key)


def _victim_app(kube: Kube, victim: str, store: str, credential: str, refresh: str = "3s",
                cluster: bool = False, **spec: Any) -> None:
    body = synced_secret("app", store, [{"key": "k", "name": credential}], refreshInterval=refresh, **spec)
    if cluster:
        body["spec"]["storeRef"]["kind"] = "ClusterCredentialStore"
    kube.apply(body, victim)
    wait_ready(kube, victim, "app")


@pytest.fixture
def cluster_store(kube: Kube, table: str) -> Iterator[str]:
    """A ClusterCredentialStore on the operator's own identity, shared by every namespace."""
    name = f"shared-{uuid.uuid4().hex[:8]}"
    kube.apply(cluster_credstash_store(name, table))
    yield name
    kube.resource(API_VERSION, "ClusterCredentialStore").delete(name=name)


# --- 1. AWS worker threads: change feeds' long polls --------------------------------------------------


def test_long_polls_of_many_change_feeds_never_hold_the_threads_another_tenants_sync_needs(
        kube: Kube, operator: OperatorProcess, namespace: str, victim: str, table: str) -> None:
    _put(table, "victim.token", "feeds-victim-v1")
    kube.apply(credstash_store("main", table), victim)
    _victim_app(kube, victim, "main", "victim.token")

    # Twice as many stores as the operator has AWS threads, each with its own keys and a change feed on
    # an idle queue: every long poll waits its full 20 s.
    sqs = boto3.client("sqs")
    stores = [f"feed-{i}" for i in range(64)]
    try:
        for name in stores:
            url = sqs.create_queue(QueueName=f"{namespace}-{name}")["QueueUrl"]
            kube.apply({"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": name},
                        "spec": {"secretsManager": {"region": "us-east-1"}, "auth": TENANT_AUTH,
                                 "changeFeed": {"sqs": {"queueUrl": url}}}}, namespace)

        def reading() -> int:
            items = kube.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "credentialstores")["items"]
            return sum(1 for s in items for c in (s.get("status") or {}).get("conditions") or []
                       if c["type"] == "FeedReady" and c["status"] == "True")

        wait_for(lambda: reading() >= 40, 120, "the feeds reading their queues")
        time.sleep(3)  # their long polls are in flight

        victim_rotation("the victim's rotation while 64 feeds long-poll",
                        lambda: _put(table, "victim.token", "feeds-victim-v2", add=True),
                        lambda: _value(kube, victim) == "feeds-victim-v2", 3 + VICTIM_MARGIN)
    finally:
        for name in stores:
            kube.resource(API_VERSION, "CredentialStore").delete(name=name, namespace=namespace)


# --- 2. Restart slots ---------------------------------------------------------------------------------


def _deployment(name: str, secret: str, paused: bool = False) -> dict[str, Any]:
    """A Deployment whose pods take their environment from `secret`. On the bare apiserver no controller
    rolls anything out: a restart of it never completes (as an image that never pulls)."""
    labels = {"app": name}
    return {"metadata": {"name": name}, "spec": {
        "paused": paused, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
            "name": "app", "image": "registry.invalid/app", "envFrom": [{"secretRef": {"name": secret}}]}]}}}}


def _restarted(kube: Kube, namespace: str, name: str) -> str | None:
    template = kube.apps.read_namespaced_deployment(name, namespace).spec.template
    return (template.metadata.annotations or {}).get(RESTART_ANNOTATION)


def test_stuck_rollouts_of_one_namespace_never_hold_the_restart_slots_another_namespace_needs(
        kube: Kube, operator: OperatorProcess, namespace: str, victim: str, table: str) -> None:
    _put(table, "hostile.token", "restart-hostile-v1")
    _put(table, "victim.token", "restart-victim-v1")
    # As many workloads as the cluster has restart slots: half paused, half never becoming Ready.
    stuck = [f"stuck-{i}" for i in range(10)]
    for i, name in enumerate(stuck):
        kube.apps.create_namespaced_deployment(namespace, _deployment(name, "app", paused=i % 2 == 0))
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": "k", "name": "hostile.token"}], refreshInterval="1s",
                             rolloutRestartTargets=[{"name": n} for n in stuck]), namespace)
    wait_ready(kube, namespace, "app")

    kube.apps.create_namespaced_deployment(victim, _deployment("web", "app"))
    kube.apply(credstash_store("main", table), victim)
    _victim_app(kube, victim, "main", "victim.token", rolloutRestartTargets=[{"name": "web"}])

    _put(table, "hostile.token", "restart-hostile-v2", add=True)
    wait_for(lambda: sum(1 for n in stuck[1::2] if _restarted(kube, namespace, n)) >= 3, 60,
             "the hostile rollouts under way")
    victim_rotation("the victim's restart while another namespace's rollouts are stuck",
                    lambda: _put(table, "victim.token", "restart-victim-v2", add=True),
                    lambda: _restarted(kube, victim, "web") is not None, 3 + 1 + VICTIM_MARGIN)


# --- 4. Store request budgets ---------------------------------------------------------------------------


def test_one_namespace_spending_a_cluster_stores_budget_never_delays_another_namespaces_rotation(
        kube: Kube, operator: OperatorProcess, namespace: str, victim: str, table: str) -> None:
    name = f"budget-{uuid.uuid4().hex[:8]}"
    store = cluster_credstash_store(name, table)
    store["spec"]["rateLimit"] = {"requestsPerSecond": 10, "burst": 10}
    kube.apply(store)
    greedy = ("greedy-a", "greedy-b", "greedy-c")
    stop = threading.Event()
    try:
        _put(table, "victim.token", "budget-victim-v1")
        _victim_app(kube, victim, name, "victim.token", cluster=True)
        # Three objects of 250 credentials each: each read of them all is 500 requests in one call.
        for obj in greedy:
            names = [f"hostile.{obj}.{i}" for i in range(250)]
            _put_many(table, names, "budget-hostile")
            body = synced_secret(obj, name, [{"key": n, "name": n} for n in names], refreshInterval="1s")
            body["spec"]["storeRef"]["kind"] = "ClusterCredentialStore"
            kube.apply(body, namespace)

        def force_syncs() -> None:  # every value read anew, every second: 150 times the store's budget
            for i in itertools.count():
                if stop.wait(1):
                    return
                for obj in greedy:
                    kube.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "syncedsecrets", obj, {
                        "metadata": {"annotations": {FORCE_SYNC_ANNOTATION: str(i)}}})

        forcing = threading.Thread(target=force_syncs, daemon=True)
        forcing.start()
        time.sleep(10)  # their first syncs, forced syncs and refreshes, and the debt they run up

        victim_rotation("the victim's rotation while another namespace overspends the shared store",
                        lambda: _put(table, "victim.token", "budget-victim-v2", add=True),
                        lambda: _value(kube, victim) == "budget-victim-v2", 3 + VICTIM_MARGIN)
    finally:
        stop.set()
        for obj in greedy:
            kube.resource(API_VERSION, "SyncedSecret").delete(name=obj, namespace=namespace)
        kube.resource(API_VERSION, "SyncedSecret").delete(name="app", namespace=victim)
        kube.resource(API_VERSION, "ClusterCredentialStore").delete(name=name)


# --- 5. Shared checks: an error stays with the object whose input caused it ------------------------------


def test_another_namespaces_failing_listing_never_fails_mine_nor_puts_its_text_in_my_status(
        kube: Kube, operator: OperatorProcess, namespace: str, victim: str, table: str,
        cluster_store: str) -> None:
    _put_many(table, [f"filler.{i}" for i in range(300)], "filler")  # a listing that takes a moment
    _put(table, "shared/app.token", "listing-victim-v1")
    injected = f"INJECTED-{uuid.uuid4().hex[:8]}"
    body = synced_secret("app", cluster_store, [], dataFrom=[{"find": "shared/*"}], refreshInterval="1s")
    body["spec"]["storeRef"]["kind"] = "ClusterCredentialStore"
    kube.apply(body, victim)
    wait_ready(kube, victim, "app")
    for i in range(8):  # the victim's pattern, and beside it one that fails, carrying the attacker's text
        hostile = synced_secret(f"mixed-{i}", cluster_store, [], refreshInterval="1s",
                                dataFrom=[{"find": "shared/*"}, {"find": f"/({injected}/"}])
        hostile["spec"]["storeRef"]["kind"] = "ClusterCredentialStore"
        kube.apply(hostile, namespace)

    seen: set[str] = set()
    until = time.monotonic() + 25
    while time.monotonic() < until:  # the victim syncs every second meanwhile
        condition = ready_condition(kube.get(API_VERSION, "SyncedSecret", "app", victim)) or {}
        seen.add(f"{condition.get('status')} {condition.get('reason')} {condition.get('message')}")
        time.sleep(0.2)
    assert not [s for s in seen if not s.startswith("True")], seen
    assert not warning_reasons(kube, victim, "app")
    assert all(injected not in (e.message or "") for e in kube.events_for(victim, "app"))
    condition = wait_ready(kube, namespace, "mixed-0", status="False", reason="InvalidSpec")
    assert "regular expression" in condition["message"] and injected not in condition["message"]

    victim_rotation("the victim's rotation beside another namespace's failing listings",
                    lambda: _put(table, "shared/app.token", "listing-victim-v2", add=True),
                    lambda: _value(kube, victim, key="shared_app.token") == "listing-victim-v2", 1 + VICTIM_MARGIN)


# --- 10. A result shared only between objects of one AWS session ---------------------------------------


@pytest.fixture
def session_proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto.url).start()
    yield proxy
    proxy.stop()


def test_a_namespace_never_reuses_a_listing_made_with_another_namespaces_role_session(
        kube: Kube, operator: OperatorProcess, namespace: str, victim: str, table: str,
        session_proxy: FaultProxy) -> None:
    """A cluster store with a role makes one session per namespace; the role's policy lets `namespace`'s
    session read items but not list the table (IAM, emulated by the proxy). Its dataFrom object must not
    take the listing `victim`'s session made a moment ago."""
    _put(table, "listed/a", "session-listed-a")
    _put(table, "listed/b", "session-listed-b")
    name = f"role-{uuid.uuid4().hex[:8]}"
    store = cluster_credstash_store(name, table)
    store["spec"].update({"auth": {"roleArn": "arn:aws:iam::123456789012:role/stashsync-shared"},
                          "endpoint": session_proxy.url})
    kube.apply(store)
    session_proxy.deny(f"stashsync-{namespace}-{name}", "Scan")
    try:
        lister = synced_secret("app", name, [], dataFrom=[{"find": "listed/*"}], refreshInterval="1s")
        lister["spec"]["storeRef"]["kind"] = "ClusterCredentialStore"
        kube.apply(lister, victim)
        wait_ready(kube, victim, "app")
        reuser = synced_secret("app", name, [], dataFrom=[{"find": "listed/*"}], refreshInterval="1h")
        reuser["spec"]["storeRef"]["kind"] = "ClusterCredentialStore"
        kube.apply(reuser, namespace)
        condition = wait_ready(kube, namespace, "app", status="False", reason="AccessDenied")
        assert "Scan" in condition["message"] or "table" in condition["message"]
        assert kube.secret_data(namespace, "app") is None
    finally:
        kube.resource(API_VERSION, "SyncedSecret").delete(name="app", namespace=namespace)
        kube.resource(API_VERSION, "SyncedSecret").delete(name="app", namespace=victim)
        kube.resource(API_VERSION, "ClusterCredentialStore").delete(name=name)
