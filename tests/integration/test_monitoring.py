"""The chart's Grafana dashboard and alerting rules: the rules pass `promtool check rules` and fire
when they should (`promtool test rules`), the chart ships both as they are in charts/stashsync/monitoring,
and every metric they name is one the operator really exposes (scraped from the running operator)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.binaries import ROOT, find_binaries
from tests.harness.operator_process import OperatorProcess

pytestmark = pytest.mark.integration
MONITORING = ROOT / "charts/stashsync/monitoring"
RULES = MONITORING / "stashsync.rules.yaml"
DASHBOARD = MONITORING / "stashsync-dashboard.json"
METRIC = re.compile(r"\bstashsync_[a-z_]+")


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make test` installs it (hack/test-tools.sh)"
    return found


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = yaml.safe_load(RULES.read_text())
    return exprs + [r["expr"] for g in rules["groups"] for r in g["rules"]]


def test_the_rules_pass_promtool_check() -> None:
    done = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_fire_when_they_should(tmp_path: Path) -> None:
    """promtool's own rule tests: a stale object alerts, a fresh one and one without a timer do not;
    failing syncs, throttling and a lost wrap token alert."""
    cases = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            # synced at t=0 and never again, every 60 s due: stale after 120 s
            {"series": 'stashsync_last_success_timestamp_seconds{kind="SyncedSecret",namespace="a",name="stale"}',
             "values": "0x30"},
            {"series": 'stashsync_refresh_interval_seconds{kind="SyncedSecret",namespace="a",name="stale"}',
             "values": "60x30"},
            # synced every minute: fresh
            {"series": 'stashsync_last_success_timestamp_seconds{kind="SyncedSecret",namespace="a",name="fresh"}',
             "values": "0+60x30"},
            {"series": 'stashsync_refresh_interval_seconds{kind="SyncedSecret",namespace="a",name="fresh"}',
             "values": "60x30"},
            # no timer (refreshPolicy OnChange): never stale
            {"series": 'stashsync_last_success_timestamp_seconds{kind="SyncedSecret",namespace="a",name="manual"}',
             "values": "0x30"},
            {"series": 'stashsync_refresh_interval_seconds{kind="SyncedSecret",namespace="a",name="manual"}',
             "values": "0x30"},
            {"series": 'stashsync_syncs_total{kind="SyncedSecret",reason="CredentialNotFound"}', "values": "0+1x30"},
            {"series": 'stashsync_syncs_total{kind="SyncedSecret",reason="Synced"}', "values": "0+5x30"},
            {"series": 'stashsync_aws_calls_total{service="ssm",operation="GetParameters",result="throttled"}',
             "values": "0+2x30"},
            {"series": 'stashsync_syncs_total{kind="WrappedSecret",reason="SecretLost"}', "values": "0 0 1x28"},
            {"series": 'stashsync_feed_lag_seconds{store="team/main"}', "values": "600x30"},
            {"series": 'stashsync_feed_lag_seconds{store="team/quick"}', "values": "2x30"},
            {"series": 'stashsync_feed_errors_total{feed="sqs",reason="AccessDenied"}', "values": "0+1x30"},
            {"series": 'stashsync_feed_errors_total{feed="sqs",reason="ForeignEvent"}', "values": "0+1x30"},
        ],
        "alert_rule_test": [
            {"eval_time": "20m", "alertname": "StashsyncSyncStale", "exp_alerts": [{
                "exp_labels": {"severity": "warning", "kind": "SyncedSecret", "namespace": "a", "name": "stale"},
                "exp_annotations": {
                    "summary": "SyncedSecret a/stale has not synced for twice its refresh interval",
                    "description": "The Secret may hold an old version. Its Ready condition says why; "
                                   "`stashsync refresh stale -n a` syncs it now."}}]},
            {"eval_time": "20m", "alertname": "StashsyncSyncsFailing", "exp_alerts": [{
                "exp_labels": {"severity": "warning", "kind": "SyncedSecret", "reason": "CredentialNotFound"},
                "exp_annotations": {
                    "summary": "stashsync SyncedSecret syncs keep failing with CredentialNotFound",
                    "description": "For 15 minutes some SyncedSecret objects have failed with reason "
                                   "CredentialNotFound. `kubectl get ssec,wsec -A` shows which (the Reason "
                                   "column); the README's reasons table says what each reason means."}}]},
            {"eval_time": "20m", "alertname": "StashsyncAwsThrottled", "exp_alerts": [{
                "exp_labels": {"severity": "warning", "service": "ssm", "operation": "GetParameters"},
                "exp_annotations": {
                    "summary": "AWS throttles stashsync's ssm GetParameters calls",
                    "description": "Throttled calls are retried within the store's rateLimit budget, so this "
                                   "is no retry storm, but syncs are slowed. Lower the stores' rateLimit or "
                                   "raise the AWS quota."}}]},
            {"eval_time": "5m", "alertname": "StashsyncWrapSecretLost", "exp_alerts": [{
                "exp_labels": {"severity": "critical", "kind": "WrappedSecret", "reason": "SecretLost"},
                "exp_annotations": {
                    "summary": "A Secret holding an unwrapped one-time token value was deleted",
                    "description": "The token was single-use: its value cannot be unwrapped again. Wrap a new "
                                   "one for the WrappedSecret showing reason SecretLost (`kubectl get wsec -A`)."}}]},
            {"eval_time": "20m", "alertname": "StashsyncFeedLagging", "exp_alerts": [{
                "exp_labels": {"severity": "warning", "store": "team/main"},
                "exp_annotations": {
                    "summary": "The change feed of store team/main delivers changes over 5 minutes late",
                    "description": "Changes reach the Secrets late (objects still poll at the store's "
                                   "backstopInterval). Check the EventBridge rule and the queue's backlog, or the "
                                   "DynamoDB stream's readers."}}]},
            {"eval_time": "20m", "alertname": "StashsyncFeedBroken", "exp_alerts": [{  # dropped messages: no alert
                "exp_labels": {"severity": "warning", "feed": "sqs", "reason": "AccessDenied"},
                "exp_annotations": {
                    "summary": "A stashsync sqs change feed cannot be read (AccessDenied)",
                    "description": "Its store shows FeedReady=False with the cause (`kubectl get cstore,ccstore "
                                   "-A`, the Feed column); its SyncedSecrets poll at their own refreshInterval "
                                   "meanwhile."}}]},
        ]}]}
    test_file = tmp_path / "rules_test.yaml"
    test_file.write_text(yaml.safe_dump(cases))
    done = subprocess.run([promtool(), "test", "rules", str(test_file)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_chart_ships_the_dashboard_and_the_rules_as_they_are() -> None:
    rendered = subprocess.run(
        [str(find_binaries().helm), "template", "s", str(ROOT / "charts/stashsync"), "-n", "mon",
         "--set", "metrics.dashboard.enabled=true", "--set", "metrics.prometheusRule.enabled=true"],
        check=True, text=True, capture_output=True).stdout
    docs = {d["kind"]: d for d in yaml.safe_load_all(rendered) if d and d["kind"] in ("ConfigMap", "PrometheusRule")}
    dashboard = docs["ConfigMap"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["stashsync.json"]) == json.loads(DASHBOARD.read_text())
    assert docs["PrometheusRule"]["spec"] == yaml.safe_load(RULES.read_text())


def test_every_metric_the_dashboard_and_rules_name_is_exposed(operator: OperatorProcess) -> None:
    exposed: set[str] = set()
    for family in text_string_to_metric_families(operator.scrape()):
        exposed.add(family.name)
        exposed.update(sample.name for sample in family.samples)
        if family.type == "counter":
            exposed.add(family.name + "_total")
        if family.type == "histogram":
            exposed.update(family.name + s for s in ("_bucket", "_sum", "_count"))
    named = {m for q in queries() for m in METRIC.findall(q)}
    assert named, "the pattern found no metric names"
    assert named - exposed == set(), f"named but not exposed: {sorted(named - exposed)}"
