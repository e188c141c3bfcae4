"""spec.encryption.kms: pods hold envelopes; the app opens them with `stashsync exec` / `decrypt`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stashsync.cli.main import main as cli
from tests.harness.kube import Kube
from tests.harness.leaks import plaintext
from tests.harness.operator_process import OperatorProcess
from tests.integration.helpers import wait_ready
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration
STASHSYNC = str(Path(sys.executable).parent / "stashsync")


def test_values_are_envelopes_that_open_only_where_they_belong(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, aws_env: dict[str, str]) -> None:
    value = plaintext("reencrypted-db-password")
    assert cli(["put", "-t", table, "enc.pass", value]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app-db", "main", [{"key": "DB_PASSWORD", "name": "enc.pass"}],
                             encryption={"kms": {"keyId": "alias/credstash"}}), namespace)
    wait_ready(kube, namespace, "app-db")
    stored = (kube.secret_data(namespace, "app-db") or {})["DB_PASSWORD"]
    assert stored.startswith("stashsync:v1:") and value not in stored

    env = {**aws_env, "PATH": os.environ["PATH"], "POD_NAMESPACE": namespace}
    out = subprocess.run([STASHSYNC, "decrypt", "--secret", "app-db", "--key", "DB_PASSWORD", stored],
                         capture_output=True, env=env, check=True).stdout.decode().strip()
    assert out == value

    # `exec` decrypts in process and hands the child plaintext, renamed if asked.
    child = [sys.executable, "-c", "import os; print(os.environ['DB_PASSWORD'], 'ENCRYPTED_X' in os.environ)"]
    done = subprocess.run([STASHSYNC, "exec", "--secret", "app-db", "--map", "ENCRYPTED_X=DB_PASSWORD",
                           "--rename", "ENCRYPTED_X=DB_PASSWORD", "--", *child],
                          capture_output=True, env={**env, "ENCRYPTED_X": stored}, check=True)
    assert done.stdout.decode().split() == [value, "False"]

    # Copied to another Secret (or read as another key, or in another namespace): it does not open.
    for flags in (["--secret", "copy", "--key", "DB_PASSWORD"], ["--secret", "app-db", "--key", "OTHER"],
                  ["--namespace", "elsewhere", "--secret", "app-db", "--key", "DB_PASSWORD"]):
        failed = subprocess.run([STASHSYNC, "decrypt", *flags, stored], capture_output=True, env=env)
        assert failed.returncode == 1 and failed.stderr.decode().count("\n") == 1
        assert value not in failed.stdout.decode() + failed.stderr.decode()


def test_age_recipient_the_operator_can_encrypt_for_but_never_open(
        kube: Kube, operator: OperatorProcess, namespace: str, table: str, aws_env: dict[str, str],
        tmp_path: Path) -> None:
    from pyrage import x25519

    identity = x25519.Identity.generate()
    key_file = tmp_path / "app.agekey"
    key_file.write_text(f"# created for the test\n{identity}\n")
    value = plaintext("age-encrypted-api-key")
    assert cli(["put", "-t", table, "age.key", value]) == 0
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("api", "main", [{"key": "API_KEY", "name": "age.key"}],
                             encryption={"recipient": str(identity.to_public())}), namespace)
    wait_ready(kube, namespace, "api")
    stored = (kube.secret_data(namespace, "api") or {})["API_KEY"]
    assert stored.startswith("stashsync:age1:") and value not in stored
    env = {**aws_env, "PATH": os.environ["PATH"], "POD_NAMESPACE": namespace}
    child = [sys.executable, "-c", "import os; print(os.environ['API_KEY'])"]
    done = subprocess.run([STASHSYNC, "exec", "--secret", "api", "--identity", str(key_file), "--", *child],
                          capture_output=True, env={**env, "API_KEY": stored}, check=True)
    assert done.stdout.decode().strip() == value
    no_identity = subprocess.run([STASHSYNC, "decrypt", "--secret", "api", "--key", "API_KEY", stored],
                                 capture_output=True, env=env)
    assert no_identity.returncode == 1 and "needs an identity" in no_identity.stderr.decode()


def test_wrappedsecret_values_can_be_re_encrypted_too(kube: Kube, operator: OperatorProcess, namespace: str,
                                                      wrap_table: str, aws_env: dict[str, str]) -> None:
    from tests.integration.test_wrappedsecret import make_token
    from tests.objects import wrap_store, wrapped_secret

    value = plaintext("wrapped-then-reencrypted")
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apply(wrapped_secret("w", "wrap", make_token(wrap_table, value),
                              encryption={"kms": {"keyId": "alias/credstash"}}), namespace)
    wait_ready(kube, namespace, "w", kind="WrappedSecret", reason="Unwrapped")
    stored = (kube.secret_data(namespace, "w") or {})["value"]
    assert stored.startswith("stashsync:v1:")
    env = {**aws_env, "PATH": os.environ["PATH"], "POD_NAMESPACE": namespace}
    out = subprocess.run([STASHSYNC, "decrypt", "--secret", "w", "--key", "value", stored], capture_output=True,
                         env=env, check=True).stdout.decode().strip()
    assert out == value
