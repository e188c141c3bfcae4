"""The validating webhook, served by kopf inside the operator and called by the real apiserver:
what the CRD schema cannot refuse is refused at `kubectl apply`, with the reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from stashsync.cli.main import main as cli
from tests.harness.controlplane import ControlPlane
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.harness.ports import free_port
from tests.integration.helpers import wait_ready
from tests.objects import cluster_synced_secret, credstash_store, synced_secret

pytestmark = pytest.mark.integration
WEBHOOK = "test-validation.stashsync.dev"  # webhook names are <id>.<this>: a domain


@pytest.fixture
def operator_with_webhook(kube: Kube, operator: OperatorProcess, control_plane: ControlPlane) -> Iterator[None]:
    assert control_plane.pki is not None
    pki = control_plane.pki
    operator.stop()
    hooked = OperatorProcess(operator.folder.parent / "operator-webhook", operator.kubeconfig, operator.aws_env,
                             operator.namespace, extra_env={
                                 "STASHSYNC_WEBHOOK_PORT": str(free_port()), "STASHSYNC_WEBHOOK_ADDR": "127.0.0.1",
                                 "STASHSYNC_WEBHOOK_HOST": "127.0.0.1", "STASHSYNC_WEBHOOK_MANAGED": WEBHOOK,
                                 "STASHSYNC_WEBHOOK_CERT": str(pki.serving_cert),
                                 "STASHSYNC_WEBHOOK_KEY": str(pki.serving_key),
                                 "STASHSYNC_WEBHOOK_CA": str(pki.ca_cert)})
    # The configuration kopf writes is removed afterwards, or later requests would call a webhook that is gone.
    registrations = client.AdmissionregistrationV1Api(kube.api_client)
    try:
        hooked.start()
        wait_for(lambda: any(w.metadata.name == WEBHOOK and w.webhooks
                             for w in registrations.list_validating_webhook_configuration().items),
                 60, "kopf to register the webhook")
        yield
    finally:
        hooked.stop()
        try:
            registrations.delete_validating_webhook_configuration(WEBHOOK)
        except ApiException as exc:
            if exc.status != 404:
                raise
        operator.start()


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
