"""Secrets Manager, Parameter Store and S3 (lazycred) sources through moto_server, and what a
refresh costs in AWS calls (counted by the operator's own metrics)."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from stashsync.api import API_VERSION, GROUP, VERSION
from stashsync.aws.clients import AwsAuth, AwsClients
from stashsync.cli.main import main as cli
from stashsync.sources.base import CredentialRef
from stashsync.sources.secretsmanager import SecretsManagerSource
from tests.harness.kube import Kube, wait_for
from tests.harness.leaks import plaintext
from tests.harness.metrics import samples
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import printed_rows, wait_ready, wait_warning
from tests.objects import TENANT_AUTH, synced_secret

pytestmark = pytest.mark.integration


def store(name: str, provider: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "CredentialStore", "metadata": {"name": name},
            "spec": {provider: {"region": "us-east-1", **settings}, "auth": TENANT_AUTH}}


def calls(operator: OperatorProcess, service: str) -> dict[str, float]:
    """operation -> AWS calls made so far for `service`, from one scrape."""
    counts: dict[str, float] = {}
    for sample in samples(operator.scrape(), "stashsync_aws_calls_total", service=service):
        counts[sample.labels["operation"]] = counts.get(sample.labels["operation"], 0.0) + sample.value
    return counts


def syncs(operator: OperatorProcess) -> float:
    return operator.metric("stashsync_syncs_total", kind="SyncedSecret")


def steady_cost(operator: OperatorProcess, services: tuple[str, ...],
                seconds: float = 6) -> tuple[dict[str, float], float]:
    """AWS calls per service.operation and SyncedSecret syncs over a quiet spell."""
    before = {s: calls(operator, s) for s in services}
    syncs_before = syncs(operator)
    time.sleep(seconds)
    after = {s: calls(operator, s) for s in services}
    delta = {f"{s}.{op}": n - before[s].get(op, 0.0) for s in services for op, n in after[s].items()}
    return {k: v for k, v in delta.items() if v}, syncs(operator) - syncs_before


@pytest.fixture
def secretsmanager(aws_env: dict[str, str]) -> Any:
    return boto3.client("secretsmanager")


def test_secrets_manager_names_properties_stages_find_and_rotation(
        kube: Kube, operator: OperatorProcess, namespace: str, secretsmanager: Any) -> None:
    p = f"sm-{uuid.uuid4().hex[:8]}"
    db = {"user": "app", "password": plaintext("sm-db-password-1")}
    arn = secretsmanager.create_secret(Name=f"{p}/db", SecretString=json.dumps(db),
                                       Tags=[{"Key": "team", "Value": "pay"}])["ARN"]
    old = secretsmanager.create_secret(Name=f"{p}/api", SecretString=plaintext("sm-api-old"))["VersionId"]
    secretsmanager.put_secret_value(SecretId=f"{p}/api", SecretString=plaintext("sm-api-new"))
    secretsmanager.create_secret(Name=f"{p}/found", SecretString=plaintext("sm-found-value"),
                                 Tags=[{"Key": "team", "Value": "pay"}])
    secretsmanager.create_secret(Name=f"{p}/other-team", SecretString=plaintext("sm-other-value"),
                                 Tags=[{"Key": "team", "Value": "ops"}])
    kube.apply(store("sm", "secretsManager", {}), namespace)
    wait_ready(kube, namespace, "sm", kind="CredentialStore")
    kube.apply(synced_secret("app", "sm", [
        {"key": "password", "name": f"{p}/db", "property": "password"},
        {"key": "user", "name": arn, "property": "user"},
        {"key": "api", "name": f"{p}/api"},
        {"key": "api-previous", "name": f"{p}/api", "version": "AWSPREVIOUS"},
        {"key": "api-pinned", "name": f"{p}/api", "version": old},
    ], dataFrom=[{"find": f"{p}/*", "tags": {"team": "pay"}}], refreshInterval="1s"), namespace)
    wait_ready(kube, namespace, "app")
    key = f"{p}/found".replace("/", "_")
    assert kube.secret_data(namespace, "app") == {
        "password": "sm-db-password-1", "user": "app", "api": "sm-api-new", "api-previous": "sm-api-old",
        "api-pinned": "sm-api-old", key: "sm-found-value", f"{p}_db": json.dumps(db)}

    # Steady state: version stages from ListSecrets (10 names a call) and DescribeSecret for the ARN; no value read.
    cost, n = steady_cost(operator, ("secretsmanager", "kms"))
    assert n >= 2, cost
    assert set(cost) <= {"secretsmanager.ListSecrets", "secretsmanager.DescribeSecret"}, cost
    assert cost["secretsmanager.ListSecrets"] <= 2 * n + 2  # one for the names, one for the find

    # Rotation: a new AWSCURRENT version reaches the Secret; values come from BatchGetSecretValue.
    db["password"] = plaintext("sm-db-password-2")
    secretsmanager.put_secret_value(SecretId=f"{p}/db", SecretString=json.dumps(db))
    wait_for(lambda: (kube.secret_data(namespace, "app") or {}).get("password") == "sm-db-password-2", 30,
             "rotated password")
    assert calls(operator, "secretsmanager").get("BatchGetSecretValue", 0) >= 1
    assert calls(operator, "secretsmanager").get("GetSecretValue", 0) >= 1  # the pinned, non-current ones

    # A missing property is a clear reason, and the Secret keeps its last good content.
    kube.apply(synced_secret("app", "sm", [{"key": "password", "name": f"{p}/db", "property": "nope"}]), namespace)
    condition = wait_ready(kube, namespace, "app", status="False", reason="PropertyNotFound")
    assert "nope" in condition["message"]
    wait_warning(kube, namespace, "app", "PropertyNotFound")
    assert kube.secret_data(namespace, "app")["password"] == "sm-db-password-2"  # type: ignore[index]


def test_secrets_manager_reads_and_checks_ahead_for_other_syncs_and_fails_none_for_them(
        secretsmanager: Any) -> None:
    p = f"ahead-{uuid.uuid4().hex[:8]}"
    for name in ("own", *(f"next-{i}" for i in range(25))):
        secretsmanager.create_secret(Name=f"{p}/{name}", SecretString=plaintext(f"{p}-{name}"))
    source = SecretsManagerSource(AwsClients(AwsAuth(region="us-east-1")))
    own = [CredentialRef(f"{p}/own")]
    ahead = [CredentialRef(f"{p}/missing"), CredentialRef("!bad name ***"),
             *(CredentialRef(f"{p}/next-{i:d}") for i in range(25))]
    assert source.room_ahead(own) == 19
    read, extra = source.read_current_ahead(own, ahead)
    assert [value for _, value in read] == [f"{p}-own".encode()]
    assert len(extra) == 17  # 19 taken in name order: the bad name and the missing one fail nothing
    assert all(value == f"{p}-{ref.name.split('/')[1]}".encode() for ref, (_, value) in extra.items())
    assert source.room_to_check(own) == 9
    versions, checked = source.current_versions_ahead(own, ahead)  # ListSecrets takes 10 names
    assert versions == [read[0][0]]
    assert len(checked) == 7 and all(checked[ref] == extra[ref][0] for ref in checked)


def test_first_syncs_of_many_objects_on_their_own_secrets_share_read_calls(
        kube: Kube, operator: OperatorProcess, namespace: str, secretsmanager: Any) -> None:
    p, n = f"many-{uuid.uuid4().hex[:8]}", 40
    for i in range(n):
        secretsmanager.create_secret(Name=f"{p}/c{i}", SecretString=plaintext(f"{p}-value-{i}"))
    kube.apply(store("sm", "secretsManager", {}), namespace)
    wait_ready(kube, namespace, "sm", kind="CredentialStore")
    before = calls(operator, "secretsmanager")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: kube.apply(synced_secret(f"s{i}", "sm", [{"key": "v", "name": f"{p}/c{i}"}]),
                                           namespace), range(n)))
    for i in range(n):
        wait_ready(kube, namespace, f"s{i}")
        assert kube.secret_data(namespace, f"s{i}") == {"v": f"{p}-value-{i}"}
    after = calls(operator, "secretsmanager")
    reads = sum(after.get(op, 0) - before.get(op, 0) for op in ("BatchGetSecretValue", "GetSecretValue"))
    assert reads < n, reads  # the syncs waiting for a slot were read ahead, up to 20 to a call


def test_parameter_store_path_labels_secure_strings_find_and_updates(
        kube: Kube, operator: OperatorProcess, namespace: str, aws_env: dict[str, str]) -> None:
    ssm = boto3.client("ssm")
    root = f"/t{uuid.uuid4().hex[:8]}/app"
    ssm.put_parameter(Name=f"{root}/db/password", Value=plaintext("ssm-password-1"), Type="SecureString")
    ssm.put_parameter(Name=f"{root}/db/password", Value=plaintext("ssm-password-2"), Type="SecureString",
                      Overwrite=True)
    ssm.label_parameter_version(Name=f"{root}/db/password", ParameterVersion=1, Labels=["first"])
    ssm.put_parameter(Name=f"{root}/db/host", Value="db.internal", Type="String")
    for i in range(12):  # more than one GetParameters call (10 names) and one by-path page
        ssm.put_parameter(Name=f"{root}/flags/f{i:02d}", Value=f"on-{i}", Type="String")
    kube.apply(store("ssm", "parameterStore", {"path": root}), namespace)
    wait_ready(kube, namespace, "ssm", kind="CredentialStore")
    kube.apply(synced_secret("app", "ssm", [
        {"key": "password", "name": "db/password"},
        {"key": "password-v1", "name": "db/password", "version": "1"},
        {"key": "password-first", "name": "db/password", "version": "first"},
        {"key": "host", "name": f"{root}/db/host"},
    ] + [{"key": f"f{i:02d}", "name": f"flags/f{i:02d}"} for i in range(12)],
        dataFrom=[{"find": "db/*"}], refreshInterval="1s"), namespace)
    wait_ready(kube, namespace, "app")
    data = kube.secret_data(namespace, "app")
    assert data is not None
    assert (data["password"], data["password-v1"], data["password-first"], data["host"], data["f11"]) == (
        "ssm-password-2", "ssm-password-1", "ssm-password-1", "db.internal", "on-11")
    assert data["db_password"] == "ssm-password-2" and data["db_host"] == "db.internal"  # found, relative names

    cost, n = steady_cost(operator, ("ssm", "kms"))
    assert n >= 2, cost
    assert set(cost) <= {"ssm.GetParameters", "ssm.GetParametersByPath"}, cost  # no decryption, no KMS
    # 16 entries over 15 distinct names -> at most 3 GetParameters calls a refresh (10 names each, one name per call)
    assert cost["ssm.GetParameters"] <= 3 * n + 3

    ssm.put_parameter(Name=f"{root}/db/password", Value=plaintext("ssm-password-3"), Type="SecureString",
                      Overwrite=True)
    wait_for(lambda: (kube.secret_data(namespace, "app") or {}).get("password") == "ssm-password-3", 30,
             "updated parameter")
    # The status is patched just after the Secret is written: wait for it rather than race it.
    def synced_versions() -> dict[str, str]:
        obj = kube.get(API_VERSION, "SyncedSecret", "app", namespace) or {}
        return dict((obj.get("status") or {}).get("syncedVersions") or {})

    wait_for(lambda: synced_versions().get("password") == "3", 30, "status with the new version")
    assert synced_versions()["password-v1"] == "1"

    kube.apply(synced_secret("gone", "ssm", [{"key": "k", "name": "db/nothing"}]), namespace)
    wait_ready(kube, namespace, "gone", status="False", reason="CredentialNotFound")


def test_s3_lazycred_objects_written_by_the_cli_are_read_and_followed(
        kube: Kube, operator: OperatorProcess, namespace: str, aws_env: dict[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    s3, kms = boto3.client("s3"), boto3.client("kms")
    bucket = f"lazy-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    if "alias/lazycred" not in {a["AliasName"] for a in kms.list_aliases()["Aliases"]}:
        kms.create_alias(AliasName="alias/lazycred", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    s3_args = ["--backend", "s3", "--bucket", bucket, "--prefix", "creds/"]
    for i in range(5):
        assert cli(["put", *s3_args, f"svc{i}", plaintext(f"s3-value-{i}")]) == 0
    capsys.readouterr()
    assert cli(["get", *s3_args, "svc3"]) == 0
    assert capsys.readouterr().out == "s3-value-3\n"

    kube.apply(store("lazy", "s3", {"bucket": bucket, "prefix": "creds/"}), namespace)
    wait_ready(kube, namespace, "lazy", kind="CredentialStore")
    kube.apply(synced_secret("app", "lazy", [{"key": f"k{i}", "name": f"svc{i}"} for i in range(5)],
                             refreshInterval="1s"), namespace)
    wait_ready(kube, namespace, "app")
    assert kube.secret_data(namespace, "app") == {f"k{i}": f"s3-value-{i}" for i in range(5)}

    cost, n = steady_cost(operator, ("s3", "kms"))
    assert n >= 2, cost
    assert set(cost) == {"s3.ListObjectsV2"} and cost["s3.ListObjectsV2"] <= n + 1, cost  # five ETags, one page

    assert cli(["put", *s3_args, "svc2", plaintext("s3-value-2-new")]) == 0
    wait_for(lambda: (kube.secret_data(namespace, "app") or {}).get("k2") == "s3-value-2-new", 30, "new object")

    # A tampered object is refused and the Secret keeps what it had.
    body = json.loads(s3.get_object(Bucket=bucket, Key="creds/svc4")["Body"].read())
    body["data"] = body["data"][:-8] + "AAAAAAA="
    s3.put_object(Bucket=bucket, Key="creds/svc4", Body=json.dumps(body).encode())
    wait_ready(kube, namespace, "app", status="False", reason="IntegrityError", timeout=30)
    assert (kube.secret_data(namespace, "app") or {}).get("k4") == "s3-value-4"

    # dataFrom over the prefix.
    kube.apply(synced_secret("found", "lazy", [], dataFrom=[{"find": "svc[0-2]"}]), namespace)
    wait_ready(kube, namespace, "found")
    assert set(kube.secret_data(namespace, "found") or {}) == {"svc0", "svc1", "svc2"}


def test_kubectl_get_shows_every_store_s_provider_and_location(kube: Kube, operator: OperatorProcess,
                                                               namespace: str) -> None:
    stores = {"sm": ("secretsManager", {}, "every secret (us-east-1)"),
              "ssm": ("parameterStore", {"path": "/app"}, "path /app (us-east-1)"),
              "lazy": ("s3", {"bucket": "bkt", "prefix": "creds/"}, "s3://bkt/creds/ (us-east-1)"),
              "cs": ("credstash", {"table": "tbl"}, "table tbl (us-east-1)")}
    for name, (provider, settings, _) in stores.items():
        kube.apply(store(name, provider, settings), namespace)
    # The rows `kubectl get credentialstores` prints: the server renders the CRD's printer columns.
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/credentialstores"

    def complete() -> dict[str, dict[str, str]] | None:
        found = printed_rows(kube, path)
        return found if all(found.get(n, {}).get("Location") for n in stores) else None

    shown = wait_for(complete, 60, "every store's provider and location")
    for name, (provider, _, location) in stores.items():
        assert (shown[name]["Provider"], shown[name]["Location"]) == (provider, location)
