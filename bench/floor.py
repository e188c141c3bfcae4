"""The floor of convergence: what the apiserver alone allows. A plain async client does, for each
SyncedSecret as it appears, exactly the writes the operator must make (the Secret, one status patch;
a default SyncedSecret takes no finalizer), with the same concurrency and no AWS, templating or
bookkeeping, while the objects are created as the benchmark creates them for the operator."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kubernetes_asyncio import client, config, watch

from stashsync.api import API_VERSION, GROUP, VERSION

PLURAL = "syncedsecrets"
MERGE_PATCH = "application/merge-patch+json"


async def _write_all(kubeconfig: Path, namespace: str, n: int, concurrency: int, ready: threading.Event) -> None:
    api = await config.new_client_from_config(str(kubeconfig))
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    done = 0
    finished = asyncio.Event()

    async def watcher() -> None:
        """Every object once, as it appears; a watch the apiserver ends or refuses (its cache still
        starting: 429) is opened again, and what it lists again is skipped."""
        seen: set[str] = set()
        ready.set()
        while True:
            try:
                stream = watch.Watch().stream(custom.list_namespaced_custom_object, GROUP, VERSION, namespace,
                                              PLURAL, timeout_seconds=3600)
                async for event in stream:
                    meta = event["object"]["metadata"]
                    if meta["name"] not in seen:
                        seen.add(meta["name"])
                        queue.put_nowait((meta["name"], meta["uid"]))
            except client.ApiException:
                await asyncio.sleep(0.5)

    async def worker() -> None:
        nonlocal done
        while True:
            name, uid = await queue.get()
            owner = {"apiVersion": API_VERSION, "kind": "SyncedSecret", "name": name, "uid": uid}
            await core.create_namespaced_secret(namespace, {"metadata": {"name": name, "ownerReferences": [owner]},
                                                            "data": {"v": base64.b64encode(b"value").decode()}})
            await custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, name, {"status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "Synced", "message": "floor",
                                "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                "syncedVersions": {"v": "1"}, "dataMAC": "x", "secretName": name}}, _content_type=MERGE_PATCH)
            done += 1
            if done >= n:
                finished.set()

    tasks = [asyncio.create_task(watcher())] + [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        waiting = asyncio.create_task(finished.wait())
        await asyncio.wait([waiting, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await api.close()


def floor_seconds(kubeconfig: Path, namespace: str, n: int, create: Callable[[], None], concurrency: int) -> float:
    """Seconds from the start of `create` (which creates the n objects) until the floor client has
    written all of them."""
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_write_all(kubeconfig, namespace, n, concurrency, ready))
        except BaseException as exc:  # reported by the caller
            failure.append(exc)
            ready.set()

    writer = threading.Thread(target=run, daemon=True)
    writer.start()
    ready.wait(60)
    started = time.monotonic()
    create()
    writer.join()
    if failure:
        raise failure[0]
    return time.monotonic() - started
