"""target.template.templateFrom: a template kept in a ConfigMap or Secret key of the namespace,
watched, so editing it re-renders at once whatever the refreshInterval."""

from __future__ import annotations

import pytest

from stashsync.api import API_VERSION
from stashsync.cli.main import main as cli
from stashsync.controllers.templates import TEMPLATE_LABEL
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration
DATA = [{"key": "user", "name": "tpl.user"}, {"key": "pass", "name": "tpl.pass"}]


def setup(kube: Kube, namespace: str, table: str, source: dict[str, object]) -> None:
    assert cli(["put", "-t", table, "tpl.user", plaintext("tpl-user")]) == 0
    assert cli(["put", "-t", table, "tpl.pass", plaintext("tpl-pass")]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", DATA, refreshInterval="1h",
                             target={"template": {"templateFrom": [source]}}), namespace)


def config_map(name: str, data: dict[str, str]) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_a_config_map_template_renders_and_an_edit_re_renders_at_once(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    kube.apply(config_map("app-tpl", {"app.conf": "user={{ user }}\n"}), namespace)
    setup(kube, namespace, table, {"configMap": {"name": "app-tpl", "key": "app.conf"}, "as": "config"})
    wait_ready(kube, namespace, "app")
    assert kube.secret_data(namespace, "app") == {"config": "user=tpl-user\n"}
    status = kube.read(API_VERSION, "SyncedSecret", "app", namespace)["status"]
    assert set(status["templateVersions"]) == {"ConfigMap/app-tpl"}

    kube.apply(config_map("app-tpl", {"app.conf": "user={{ user }}\npass={{ data['pass'] }}\n"}), namespace)
    wait_for(lambda: kube.secret_data(namespace, "app") == {"config": "user=tpl-user\npass=tpl-pass\n"}, 30,
             "the edited template rendered (refreshInterval is 1h)")


def test_a_missing_template_is_reported_and_its_creation_syncs_at_once(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    setup(kube, namespace, table, {"configMap": {"name": "later", "key": "dsn"}})
    condition = wait_ready(kube, namespace, "app", status="False", reason="TemplateNotFound")
    assert "later" in condition["message"]
    assert kube.secret_data(namespace, "app") is None
    kube.apply(config_map("later", {"dsn": "{{ user }}@db"}), namespace)
    wait_for(lambda: kube.secret_data(namespace, "app") == {"dsn": "tpl-user@db"}, 30, "synced once it exists")


def test_a_labelled_secret_template_is_watched_too(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str) -> None:
    def template_secret(text: str) -> dict[str, object]:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tpl", "labels": {TEMPLATE_LABEL: "yes"}},
                "stringData": {"t": text}}

    kube.apply(template_secret("a={{ user }}"), namespace)
    setup(kube, namespace, table, {"secret": {"name": "tpl", "key": "t"}})
    wait_ready(kube, namespace, "app")
    assert kube.secret_data(namespace, "app") == {"t": "a=tpl-user"}
    kube.apply(template_secret("b={{ pass }}"), namespace)
    wait_for(lambda: kube.secret_data(namespace, "app") == {"t": "b=tpl-pass"}, 30, "the edited Secret template")
