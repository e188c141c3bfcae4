"""Force refresh: a new stashsync.dev/force-sync value (set by `stashsync refresh`) syncs a SyncedSecret
now, reading every value, however long its refreshInterval."""

from __future__ import annotations

import pytest

from stashsync.api import API_VERSION
from stashsync.cli.main import main as cli
from stashsync.kube.labels import FORCE_SYNC_ANNOTATION
from tests.harness.controlplane import ControlPlane
from tests.harness.kube import Kube
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration


@pytest.fixture
def kubeconfig(control_plane: ControlPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI, like kubectl, talks to the cluster its kubeconfig names."""
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig))


def test_refresh_syncs_a_new_version_now_despite_an_hour_long_interval(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, kubeconfig: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["put", "-t", table, "db.pass", plaintext("force-v1")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": "pass", "name": "db.pass"}], refreshInterval="1h"), namespace)
    wait_ready(kube, namespace, "app")
    assert cli(["put", "-a", "-t", table, "db.pass", plaintext("force-v2")]) == 0
    assert kube.secret_data(namespace, "app") == {"pass": "force-v1"}  # the next refresh is an hour away

    assert cli(["refresh", "app", "-n", namespace]) == 0  # waits for the operator
    assert kube.secret_data(namespace, "app") == {"pass": "force-v2"}
    obj = kube.read(API_VERSION, "SyncedSecret", "app", namespace)
    assert obj["status"]["forcedSync"] == obj["metadata"]["annotations"][FORCE_SYNC_ANNOTATION]
    assert f"SyncedSecret {namespace}/app: synced" in capsys.readouterr().out


def test_refresh_reads_every_value_even_when_no_version_changed(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, kubeconfig: None) -> None:
    assert cli(["put", "-t", table, "db.user", plaintext("force-user")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": "user", "name": "db.user"}], refreshInterval="1h"), namespace)
    wait_ready(kube, namespace, "app")
    decrypts = operator.metric("stashsync_kms_decrypts_total")
    assert cli(["refresh", "app", "-n", namespace]) == 0
    assert operator.metric("stashsync_kms_decrypts_total") > decrypts  # opened again, not only version-checked
    assert kube.secret_data(namespace, "app") == {"user": "force-user"}


def test_refresh_of_a_missing_object_is_one_line_and_a_non_zero_exit(
        namespace: str, kubeconfig: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["refresh", "nothing-here", "-n", namespace, "--wait", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"stashsync: error: SyncedSecret {namespace}/nothing-here not found"
