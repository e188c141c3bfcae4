"""The operator's API client does not consult the environment (netrc, proxy variables) per request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stashsync.kube.client import connect

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def test_the_client_ignores_proxy_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config").write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    async def session_state() -> tuple[bool, bool]:
        api = await connect()
        session = api.rest_client.pool_manager
        try:
            return session.trust_env, session.connector is not None and not session.closed
        finally:
            await api.close()

    assert asyncio.run(session_state()) == (False, True)
