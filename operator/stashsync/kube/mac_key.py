"""The operator's MAC key: 32 random bytes in a Secret of its own namespace, made on first start."""

from __future__ import annotations

import base64
import os

from kubernetes_asyncio import client

from stashsync.kube.client import is_status
from stashsync.kube.labels import MANAGED_BY, MANAGED_BY_LABEL

KEY = "mac-key"


KEY_BYTES = 32


class MalformedMacKey(RuntimeError):
    pass


def _valid_key(data: dict[str, str] | None, namespace: str, name: str) -> bytes:
    """The key must be what we made: 32 bytes. Making a new one silently would change every MAC, and
    every rolloutRestartTarget would restart once."""
    try:
        key = base64.b64decode((data or {})[KEY], validate=True)
    except (KeyError, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise MalformedMacKey(f"Secret {namespace}/{name} must hold {KEY} with {KEY_BYTES} random bytes (base64); "
                              "restore it from a backup, or delete it to make a new one (every workload with "
                              "rolloutRestartTargets then restarts once)")
    return key


async def load_or_create(api: client.ApiClient, namespace: str, name: str) -> bytes:
    core = client.CoreV1Api(api)
    for _ in range(3):
        try:
            secret = await core.read_namespaced_secret(name, namespace)
            return _valid_key(secret.data, namespace, name)
        except client.ApiException as exc:
            if not is_status(exc, 404):
                raise
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace, "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
                "data": {KEY: base64.b64encode(os.urandom(32)).decode()}}
        try:
            await core.create_namespaced_secret(namespace, body)
        except client.ApiException as exc:
            if not is_status(exc, 409):  # 409: another replica made it first; read theirs
                raise
    raise RuntimeError(f"could not read or create Secret {namespace}/{name}")
