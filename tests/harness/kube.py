"""Apply YAML to the test apiserver and wait on conditions (sync kubernetes client; tests only)."""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    """A file's non-empty YAML documents, parsed by libyaml when PyYAML has it: ESO's CRDs are 2 MB,
    which the pure-Python parser takes seconds over, in every benchmark run that installs them."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [doc for doc in yaml.load_all(path.read_text(), Loader=loader) if doc]


class Kube:
    def __init__(self, kubeconfig: Path) -> None:
        self.api_client = config.new_client_from_config(str(kubeconfig))
        self.dynamic = dynamic.DynamicClient(self.api_client)
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)

    def resource(self, api_version: str, kind: str) -> Any:
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def apply(self, doc: dict[str, Any], namespace: str | None = None) -> Any:
        """Create, or replace if it exists (like kubectl apply for our purposes). `doc` is not changed."""
        doc = copy.deepcopy(doc)
        doc.get("metadata", {}).pop("resourceVersion", None)
        resource = self.resource(doc["apiVersion"], doc["kind"])
        if resource.namespaced:
            doc.setdefault("metadata", {}).setdefault("namespace", namespace or "default")
        ns = doc["metadata"].get("namespace")
        try:
            return resource.create(body=doc, namespace=ns)
        except ApiException as exc:
            if exc.status != 409:
                raise
        current = resource.get(name=doc["metadata"]["name"], namespace=ns)
        doc["metadata"]["resourceVersion"] = current.metadata.resourceVersion
        return resource.replace(body=doc, namespace=ns)

    def apply_files(self, paths: Iterable[Path], namespace: str | None = None) -> list[dict[str, Any]]:
        """Apply every document of the files; returns them."""
        docs = [doc for path in paths for doc in load_yaml_documents(path)]
        for doc in docs:
            self.apply(doc, namespace)
        return docs

    def install_crds(self, paths: Iterable[Path] | None = None) -> None:
        """Apply CRDs (ours by default) and wait until the apiserver serves them."""
        docs = self.apply_files(sorted(paths if paths is not None else CRD_DIR.glob("*.yaml")))
        ext = client.ApiextensionsV1Api(self.api_client)
        for doc in docs:
            name = doc["metadata"]["name"]
            wait_for(functools.partial(self._established, ext, name), 30, f"CRD {name} established")
        self.dynamic = dynamic.DynamicClient(self.api_client)  # rediscover the new kinds

    @staticmethod
    def _established(ext: client.ApiextensionsV1Api, name: str) -> bool:
        conditions = ext.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    def create_namespace(self, name: str) -> str:
        try:
            self.core.create_namespace({"metadata": {"name": name}})
        except ApiException as exc:
            if exc.status != 409:
                raise
        return name

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return self.read(api_version, kind, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def read(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The object, which the caller knows exists (a 404 raises)."""
        return dict(self.resource(api_version, kind).get(name=name, namespace=namespace).to_dict())

    def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        import base64

        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def events_for(self, namespace: str, name: str) -> list[Any]:
        events = self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
        return list(events)


def ready_condition(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return dict(c)
    return None


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
