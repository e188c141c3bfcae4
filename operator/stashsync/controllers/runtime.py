"""Operator start-up: kopf settings in one place, and what handlers share (settings, MAC key)."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
from prometheus_client import start_http_server

from stashsync.controllers import persistence
from stashsync.kube import client as kube_client
from stashsync.kube import mac_key as mac_key_store
from stashsync.sandbox import TemplateSandbox
from stashsync.settings import Settings

_state: dict[str, Any] = {}


def settings() -> Settings:
    current: Settings | None = _state.get("settings")
    if current is None:
        current = _state["settings"] = Settings()
    return current


def mac_key() -> bytes:
    key: bytes = _state["mac_key"]
    return key


def sandbox() -> TemplateSandbox:
    found: TemplateSandbox = _state["sandbox"]
    return found


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, logger: kopf.Logger, **_: Any) -> None:
    ours = _state["settings"] = Settings()
    persistence.configure(settings)
    # kopf turns log lines into Events; only warnings and errors, we post our own state changes.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # With replicas peering (--peering), a standby takes over this long after the active one vanished.
    settings.peering.lifetime = ours.peering_lifetime
    settings.execution.max_workers = ours.aws_workers
    if ours.webhook_port:
        from stashsync.controllers.admission import webhook_server

        settings.admission.server = webhook_server(ours)
        settings.admission.managed = ours.webhook_managed or None
    # boto3 calls run in worker threads (asyncio.to_thread); size the pool for many stores at once.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=ours.aws_workers,
                                                                       thread_name_prefix="aws"))
    _state["mac_key"] = await mac_key_store.load_or_create(ours.namespace, ours.mac_key_secret)
    _state["sandbox"] = TemplateSandbox()
    if ours.metrics_port:
        start_http_server(ours.metrics_port, addr=ours.metrics_addr)
    logger.info("stashsync started", extra={"namespace": ours.namespace,
                                            "watch_namespaces": list(ours.watch_namespaces)})


@kopf.on.cleanup()
async def close(**_: Any) -> None:
    if "sandbox" in _state:
        await _state["sandbox"].close()
    await kube_client.close()
