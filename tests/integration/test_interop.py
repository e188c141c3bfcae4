"""Both ways with the real tools: what credstash 1.17.1 and credsmash 3.0.2 write, we read (CLI and
operator), and what we write, they read."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.harness import real_tools
from tests.harness.kube import Kube
from tests.harness.leaks import plaintext
from tests.integration.helpers import wait_ready
from tests.objects import credstash_store, synced_secret

pytestmark = pytest.mark.integration
STASHSYNC = Path(sys.executable).parent / "stashsync"


@pytest.fixture(scope="module")
def tools(aws_env: dict[str, str]) -> Path:
    return real_tools.tools_venv()


@pytest.fixture
def env(aws_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**os.environ, **aws_env, "CREDSMASH_CONFIG": str(tmp_path / "credsmash.cfg")}


def credsmash_config(env: dict[str, str], table: str, algorithm: str) -> None:
    Path(env["CREDSMASH_CONFIG"]).write_text(
        f"[credsmash]\ntable_name = {table}\nkey_id = alias/credstash\nalgorithm = {algorithm}\n")


def stashsync(*args: str, env: dict[str, str]) -> bytes:
    return real_tools.run(STASHSYNC, *args, env=env)


@pytest.mark.parametrize("digest", ["SHA256", "SHA512", "MD5"])
def test_we_read_what_credstash_117_wrote(tools: Path, env: dict[str, str], table: str, digest: str) -> None:
    value = plaintext(f"from-credstash-{digest}")
    real_tools.run(tools / "credstash", "-t", table, "put", "-d", digest, "cs.secret", value, "app=web", env=env)
    real_tools.run(tools / "credstash", "-t", table, "put", "-a", "cs.secret", value + "-v2", "app=web", env=env)
    assert stashsync("get", "-t", table, "cs.secret", "app=web", env=env) == f"{value}-v2\n".encode()
    assert stashsync("get", "-t", table, "-v", "1", "cs.secret", "app=web", env=env) == f"{value}\n".encode()


def test_credstash_117_reads_what_we_wrote(tools: Path, env: dict[str, str], table: str) -> None:
    value = plaintext("from-stashsync-for-credstash")
    stashsync("put", "-t", table, "-d", "SHA384", "ours", value, "team=a", env=env)
    out = real_tools.run(tools / "credstash", "-t", table, "get", "ours", "team=a", env=env)
    assert out.decode().strip() == value


@pytest.mark.parametrize("algorithm", ["aes-ctr", "aes-gcm", "aes-ctr-legacy"])
def test_we_read_what_credsmash_wrote(tools: Path, env: dict[str, str], table: str, algorithm: str) -> None:
    credsmash_config(env, table, algorithm)
    value = plaintext(f"from-credsmash-{algorithm}")
    real_tools.run(tools / "credsmash", "put", "sm.secret", "-", env=env, stdin=value.encode())
    assert stashsync("get", "-t", table, "-n", "sm.secret", env=env) == value.encode()


@pytest.mark.parametrize("algorithm", ["aes-ctr", "aes-gcm"])
def test_credsmash_reads_what_we_wrote(tools: Path, env: dict[str, str], table: str, algorithm: str) -> None:
    credsmash_config(env, table, algorithm)
    value = plaintext(f"from-stashsync-for-credsmash-{algorithm}")
    stashsync("put", "-t", table, "--algorithm", algorithm, "ours", value, env=env)
    assert real_tools.run(tools / "credsmash", "get", "ours", env=env) == value.encode()


def test_operator_syncs_credsmash_gcm_and_credstash_items_into_one_secret(
        tools: Path, env: dict[str, str], kube: Kube, operator: object, namespace: str, table: str) -> None:
    credsmash_config(env, table, "aes-gcm")
    real_tools.run(tools / "credsmash", "put", "gcm.item", "-", env=env, stdin=plaintext("op-gcm-value").encode())
    real_tools.run(tools / "credstash", "-t", table, "put", "cs.item", plaintext("op-cs-value"), "k=v", env=env)
    kube.apply(credstash_store("main", table), namespace)
    kube.apply(synced_secret("app", "main", [{"key": "gcm", "name": "gcm.item"},
                                             {"key": "cs", "name": "cs.item", "context": {"k": "v"}}]), namespace)
    wait_ready(kube, namespace, "app")
    assert kube.secret_data(namespace, "app") == {"gcm": "op-gcm-value", "cs": "op-cs-value"}


DRIVER = Path(__file__).resolve().parents[1] / "harness" / "awswrap_driver.py"


def test_operator_unwraps_a_token_made_by_awswrap_0_1_3(tools: Path, env: dict[str, str], kube: Kube,
                                                         operator: object, namespace: str, wrap_table: str) -> None:
    from tests.objects import wrap_store, wrapped_secret

    token = real_tools.run(tools / "python", str(DRIVER), "wrap", wrap_table, plaintext("awswrap-made-value"),
                           env=env).decode().strip()
    plaintext(token)
    kube.apply(wrap_store("wrap", wrap_table), namespace)
    kube.apply(wrapped_secret("from-awswrap", "wrap", token), namespace)
    wait_ready(kube, namespace, "from-awswrap", kind="WrappedSecret", reason="Unwrapped")
    assert kube.secret_data(namespace, "from-awswrap") == {"value": "awswrap-made-value"}


def test_awswrap_0_1_3_unwraps_a_token_made_by_stashsync(tools: Path, env: dict[str, str], wrap_table: str) -> None:
    value = plaintext("stashsync-made-wrapped-value")
    token = stashsync("wrap", "--table", wrap_table, "--service-kms-key", "alias/wrap-service",
                      "-k", "alias/wrap-client", value, env=env).decode().strip()
    plaintext(token)
    out = real_tools.run(tools / "python", str(DRIVER), "unwrap", wrap_table, token, env=env)
    assert out.decode().strip() == value
