"""`stashsync refresh NAME`: sync a SyncedSecret now, reading every value, by setting its
stashsync.dev/force-sync annotation to a new value; by default it waits for the operator to act."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import time
from typing import Any

from kubernetes_asyncio import client, config

from stashsync.api import GROUP, VERSION
from stashsync.api.conditions import ready_condition
from stashsync.cli.errors import CliError
from stashsync.kube import client as kube_client
from stashsync.kube.client import api_error, is_status
from stashsync.kube.labels import FORCE_SYNC_ANNOTATION
from stashsync.kube.status import MERGE_PATCH, get_object

PLURAL = "syncedsecrets"
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("refresh", help="sync a SyncedSecret now, reading every value (its force-sync annotation)")
    p.add_argument("name", help="the SyncedSecret")
    p.add_argument("-n", "--namespace", help="its namespace (default: the kubeconfig context's, else 'default')")
    p.add_argument("--wait", type=float, default=60.0, metavar="SECONDS",
                   help="wait this long for the operator to sync it (default 60; 0: do not wait)")
    p.set_defaults(func=refresh)


def refresh(args: argparse.Namespace) -> int:
    return asyncio.run(_refresh(args.name, args.namespace, args.wait))


def _default_namespace() -> str:
    if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(SERVICE_ACCOUNT_NAMESPACE):
        with open(SERVICE_ACCOUNT_NAMESPACE) as f:
            return f.read().strip()
    try:
        _, active = config.list_kube_config_contexts(config_file=kube_client.kubeconfig_path())
    except (config.ConfigException, OSError):
        return "default"
    return str(((active or {}).get("context") or {}).get("namespace") or "default")


async def _refresh(name: str, namespace: str | None, wait: float) -> int:
    namespace = namespace or _default_namespace()
    what = f"SyncedSecret {namespace}/{name}"
    try:
        api = await kube_client.connect()
    except config.ConfigException as exc:
        raise CliError(f"no cluster to talk to: {exc}") from None
    try:
        custom = client.CustomObjectsApi(api)
        value = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # new on every call
        patch = {"metadata": {"annotations": {FORCE_SYNC_ANNOTATION: value}}}
        await _call(what, custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch,
                                                                _content_type=MERGE_PATCH))
        print(f"{what}: refresh requested ({FORCE_SYNC_ANNOTATION}={value})")
        if wait <= 0:
            return 0
        deadline = time.monotonic() + wait
        while True:
            body = await _call(what, get_object(api, PLURAL, namespace, name))
            if body is None:
                raise CliError(f"{what} not found")
            status = body.get("status") or {}
            ready = ready_condition(status) or {}
            if status.get("forcedSync") == value:
                print(f"{what}: synced: {ready.get('message', '')}")
                return 0
            if time.monotonic() >= deadline:
                raise CliError(f"{what} was not synced within {wait:.0f} s; Ready={ready.get('status', 'Unknown')} "
                               f"{ready.get('reason', '')}: {ready.get('message', '')}")
            await asyncio.sleep(0.5)
    finally:
        await api.close()


async def _call(what: str, call: Any) -> Any:
    try:
        return await call
    except client.ApiException as exc:
        if is_status(exc, 404):
            raise CliError(f"{what} not found") from None
        raise CliError(f"{what}: {api_error(exc).message}") from None
