"""The validating webhook, served by kopf inside the operator and called by the real apiserver:
what the CRD schema cannot refuse is refused at `kubectl apply`, with the reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes.client.exceptions import ApiException

from stashsync.cli.main import main as cli
from tests.harness.controlplane import ControlPlane
from tests.harness.kube import Kube
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready, webhook_operator
from tests.objects import cluster_synced_secret, credstash_store, synced_secret

pytestmark = pytest.mark.integration


@pytest.fixture
def operator_with_webhook(kube: Kube, operator: OperatorProcess, control_plane: ControlPlane) -> Iterator[None]:
    with webhook_operator(kube, operator, control_plane):
        yield


def test_the_webhook_refuses_what_the_schema_cannot_and_admits_the_rest(
        kube: Kube, operator_with_webhook: None, namespace: str, table: str) -> None:
    bad_template = synced_secret("dsn", "main", [{"key": "user", "name": "db.user"}],
                                 target={"template": {"data": {"dsn": "{{ user }}:{{ data['password'] }}@db"}}})
    with pytest.raises(ApiException) as caught:
        kube.apply(bad_template, namespace)
    assert caught.value.status == 422 and "password" in str(caught.value.body), caught.value.body

    pinned = synced_secret("pinned", "main", [{"key": "k", "name": "x", "version": "2", "generate": {}}])
    with pytest.raises(ApiException) as caught:
        kube.apply(pinned, namespace)
    assert "cannot pin a version" in str(caught.value.body)

    store = credstash_store("jwt", table)
    store["spec"]["auth"] = {"jwt": {"serviceAccountRef": {"name": "reader"}}}
    with pytest.raises(ApiException) as caught:
        kube.apply(store, namespace)
    assert "roleArn" in str(caught.value.body)

    # A ClusterSyncedSecret's SyncedSecret spec gets the same checks, named as its field.
    fan_out = cluster_synced_secret(f"refused-{namespace}", "shared",
                                    [{"key": "k", "name": "x", "generate": {"rotateEvery": "1h"}}],
                                    namespaces=[namespace], refreshPolicy="CreatedOnce")
    with pytest.raises(ApiException) as caught:
        kube.apply(fan_out)
    assert caught.value.status == 422 and "syncedSecretSpec: refreshPolicy CreatedOnce" in str(caught.value.body)

    # What is valid goes through and syncs as usual.
    assert cli(["put", "-t", table, "db.user", plaintext("webhook-user")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    good = synced_secret("dsn", "main", [{"key": "user", "name": "db.user"}],
                         target={"template": {"data": {"dsn": "{{ user }}@db"}}})
    kube.apply(good, namespace)
    wait_ready(kube, namespace, "dsn")
    assert kube.secret_data(namespace, "dsn") == {"dsn": "webhook-user@db"}
