"""When each object of a kind turned Ready, seen through one watch: polling by listing every object
every second or two costs the apiserver a full serialization of thousands of objects each time, on
the same two cores as the controller being measured, and only tells the time to the poll's interval."""

from __future__ import annotations

import threading
import time
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from tests.harness.kube import ready_condition


class ReadyWatch:
    """Watches one plural in one namespace from a thread, from the moment it starts; `times()` maps
    each object's name to the time.monotonic() at which it was first seen Ready=True."""

    def __init__(self, api: client.ApiClient, group: str, version: str, namespace: str, plural: str) -> None:
        self._custom = client.CustomObjectsApi(api)
        self._args = (group, version, namespace, plural)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ready-watch-{plural}", daemon=True)
        self._resource_version: str | None = None
        self._ready_at: dict[str, float] = {}

    def __enter__(self) -> ReadyWatch:
        # A list first: the watch then starts from its resourceVersion, so no change made after
        # __enter__ returns can be missed, however late the thread's connection opens.
        listed = self._custom.list_namespaced_custom_object(*self._args)
        for obj in listed["items"]:
            self._seen(obj)
        self._resource_version = listed["metadata"]["resourceVersion"]
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join(10)

    def count(self) -> int:
        with self._lock:
            return len(self._ready_at)

    def times(self) -> dict[str, float]:
        with self._lock:
            return dict(self._ready_at)

    def wait(self, n: int, deadline: float) -> int:
        """Until n objects are Ready or time.monotonic() passes `deadline`; the Ready count."""
        while self.count() < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.count()

    def _run(self) -> None:
        resource_version = self._resource_version
        while not self._stopped.is_set():
            stream = watch.Watch()
            try:
                # Short watches: the thread notices stop() within seconds even when nothing changes.
                for event in stream.stream(self._custom.list_namespaced_custom_object, *self._args,
                                           resource_version=resource_version, timeout_seconds=5,
                                           allow_watch_bookmarks=True):
                    self._seen(event["object"])
                    resource_version = stream.resource_version
                    if self._stopped.is_set():
                        break
            except ApiException as exc:  # the client raises a watch's ERROR event as this
                if exc.status == 410:  # too old a resourceVersion: list again; names already Ready stay
                    resource_version = None
                time.sleep(0.2)  # also 429 while the apiserver's watch cache starts

    def _seen(self, obj: Any) -> None:
        if (ready_condition(obj) or {}).get("status") != "True":  # bookmarks have no status
            return
        name = obj["metadata"]["name"]
        with self._lock:
            self._ready_at.setdefault(name, time.monotonic())
