"""Runs last in the session: no plaintext used by any test appears in the operator's logs, in any
Event, in any status, or in any annotation or label (named zz so pytest orders it last)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import API_GROUP, API_VERSION, credstash_store, plaintext, synced_secret
from tests.harness.kube import Kube
from tests.harness.leaks import LEAK_CANARIES
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready

pytestmark = pytest.mark.integration
PLURALS = ["syncedsecrets", "wrappedsecrets", "credentialstores"]


def test_no_plaintext_in_logs_events_statuses_or_annotations(kube: Kube, operator: OperatorProcess,
                                                             namespace: str, table: str) -> None:
    from stashsync.cli.main import main as cli

    # Always sync one canary here, so this test checks something even when run alone.
    assert cli(["put", "-t", table, "leak.canary", plaintext("leak-canary-3f9a1c")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("canary", "main", [{"key": "k", "name": "leak.canary"}]), namespace)
    wait_ready(kube, namespace, "canary")

    # Every operator process of the session: the shared one and those the crash tests killed.
    haystacks = {str(log): log.read_text(errors="replace")
                 for log in sorted(operator.log.parent.parent.glob("operator*/operator.log"))}
    events = kube.core.list_event_for_all_namespaces().items
    haystacks["events"] = "\n".join(f"{e.reason} {e.message}" for e in events)
    for plural in PLURALS:
        objects = kube.custom.list_cluster_custom_object(API_GROUP, API_VERSION, plural)["items"]
        haystacks[f"{plural} status+metadata"] = json.dumps(
            [{"status": o.get("status"), "metadata": o.get("metadata")} for o in objects])
    secrets = kube.core.list_secret_for_all_namespaces().items
    haystacks["secret annotations+labels"] = json.dumps(
        [{"a": s.metadata.annotations, "l": s.metadata.labels} for s in secrets])

    assert len(events) > 0 and "leak-canary-3f9a1c" in LEAK_CANARIES
    leaks = [(value, where) for value in sorted(LEAK_CANARIES) for where, text in haystacks.items()
             if value in text]
    assert leaks == []
