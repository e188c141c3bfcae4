"""The operator's MAC key: 32 random bytes in a Secret of its own namespace, made on first start."""

from __future__ import annotations

import base64
import os

from kubernetes_asyncio import client

from stashsync.kube.client import api_client
from stashsync.kube.labels import MANAGED_BY, MANAGED_BY_LABEL

KEY = "mac-key"


async def load_or_create(namespace: str, name: str) -> bytes:
    core = client.CoreV1Api(await api_client())
    for _ in range(3):
        try:
            secret = await core.read_namespaced_secret(name, namespace)
            return base64.b64decode(secret.data[KEY])
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace, "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
                "data": {KEY: base64.b64encode(os.urandom(32)).decode()}}
        try:
            await core.create_namespaced_secret(namespace, body)
        except client.ApiException as exc:
            if exc.status != 409:  # 409: another replica made it first; read theirs
                raise
    raise RuntimeError(f"could not read or create Secret {namespace}/{name}")
