"""Templates kept in ConfigMaps and Secrets (`target.template.templateFrom`): read in the SyncedSecret's
own namespace by each sync that renders them, and watched, so an edit re-renders at once.

ConfigMaps are watched cluster-wide (a ConfigMap holds no secret); Secrets only when they carry the
label TEMPLATE_LABEL, so the operator does not stream every Secret of the cluster. An unlabelled
template Secret still works: its edits are seen at the next refresh."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubernetes_asyncio import client

from stashsync.api.reserved import RESERVED_TYPES
from stashsync.api.syncedsecret import MAX_TEMPLATE_BYTES, TemplateSource
from stashsync.errors import StashError
from stashsync.kube.client import is_status
from stashsync.kube.secrets import Secrets, decode

TEMPLATE_LABEL = "stashsync.dev/template"
Subscriber = tuple[str, str]  # (namespace, SyncedSecret name)
SourceKey = tuple[str, str, str]  # (namespace, kind, name)


class TemplateNotFound(StashError):
    reason = "TemplateNotFound"


@dataclass(frozen=True)
class Templates:
    """What a sync renders: output key -> template text (inline and loaded), and the resourceVersion
    of each ConfigMap or Secret it came from ("Kind/name" -> version), recorded in the status."""

    texts: dict[str, str] | None
    versions: dict[str, str]


class TemplateWatch:
    """Which SyncedSecrets render which ConfigMaps and Secrets; a change of one wakes its users."""

    def __init__(self, wake: Callable[[Subscriber], None]) -> None:
        self._wake = wake
        self._users: dict[SourceKey, set[Subscriber]] = {}
        self._of: dict[Subscriber, set[SourceKey]] = {}

    def subscribe(self, subscriber: Subscriber, keys: set[SourceKey]) -> None:
        self.unsubscribe(subscriber)
        if keys:
            self._of[subscriber] = keys
            for key in keys:
                self._users.setdefault(key, set()).add(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        for key in self._of.pop(subscriber, set()):
            users = self._users.get(key, set())
            users.discard(subscriber)
            if not users:
                self._users.pop(key, None)

    def changed(self, key: SourceKey) -> None:
        for subscriber in self._users.get(key, set()):
            self._wake(subscriber)


async def _read(api: client.ApiClient, secrets: Secrets, namespace: str, kind: str,
                name: str) -> tuple[str, dict[str, bytes]] | None:
    """(resourceVersion, data) of a ConfigMap or Secret, or None when it does not exist."""
    if kind == "Secret":
        secret = await secrets.read(namespace, name)
        if secret is None:
            return None
        if secret.get("type", "Opaque") in RESERVED_TYPES:
            raise TemplateNotFound(f"templateFrom: Secret {name!r} is of type {secret['type']}, which is never "
                                   "read as a template")
        return str(secret["metadata"]["resourceVersion"]), decode(secret.get("data"))
    try:
        found = await client.CoreV1Api(api).read_namespaced_config_map(name, namespace)
    except client.ApiException as exc:
        if is_status(exc, 404):
            return None
        raise
    return str(found.metadata.resource_version), {k: v.encode() for k, v in (found.data or {}).items()}


async def load(api: client.ApiClient, secrets: Secrets, namespace: str, inline: dict[str, str] | None,
               sources: tuple[TemplateSource, ...]) -> Templates:
    if not sources:
        return Templates(inline, {})
    texts = dict(inline or {})
    versions: dict[str, str] = {}
    read: dict[str, tuple[str, dict[str, bytes]] | None] = {}
    for source in sources:
        if source.ref not in read:
            read[source.ref] = await _read(api, secrets, namespace, source.kind, source.name)
        found = read[source.ref]
        if found is None:
            raise TemplateNotFound(f"templateFrom: {source.kind} {source.name!r} not found in this namespace")
        version, data = found
        versions[source.ref] = version
        if source.key not in data:
            raise TemplateNotFound(f"templateFrom: {source.kind} {source.name!r} has no key {source.key!r}")
        if len(data[source.key]) + sum(len(t.encode()) for t in texts.values()) > MAX_TEMPLATE_BYTES:
            raise TemplateNotFound(f"templateFrom: {source.kind} {source.name!r} key {source.key!r} is too large: "
                                   f"all templates of one object together may hold at most {MAX_TEMPLATE_BYTES} bytes")
        try:
            texts[source.output] = data[source.key].decode()
        except UnicodeDecodeError:
            raise TemplateNotFound(f"templateFrom: {source.kind} {source.name!r} key {source.key!r} is not "
                                   "text") from None
    return Templates(texts, versions)


def source_keys(namespace: str, sources: tuple[TemplateSource, ...]) -> set[SourceKey]:
    return {(namespace, s.kind, s.name) for s in sources}
