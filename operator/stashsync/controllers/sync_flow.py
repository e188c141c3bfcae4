"""One SyncedSecret sync, as a sequence of small steps:
spec -> store -> versions (cheap) -> unchanged? done : fetch what changed -> build -> write -> status.

Values live only in local variables of one sync; nothing secret is logged or kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from kubernetes_asyncio import client

from stashsync import metrics
from stashsync.api import conditions as cond
from stashsync.api.syncedsecret import SyncedSecretSpec, key_for_name, parse_synced_secret
from stashsync.controllers.generate import ensure_generated, generator_of, next_rotation_seconds
from stashsync.controllers.reencrypt import encrypt_values
from stashsync.crypto import mac
from stashsync.errors import StashError
from stashsync.kube import rollout, secrets
from stashsync.kube.client import api_error
from stashsync.kube.status import patch_status
from stashsync.sandbox import TemplateSandbox
from stashsync.sources import base
from stashsync.sources.properties import extract
from stashsync.sources.registry import build_source

PLURAL = "syncedsecrets"
KIND = "SyncedSecret"
T = TypeVar("T")

# (namespace, secret name) -> (owner uid, MAC of what we last wrote); lets the Secret watch ignore our own writes.
LAST_WRITTEN: dict[tuple[str, str], tuple[str, str]] = {}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: str
    message: str
    wrote: bool = False
    refresh_seconds: float = 0.0
    restarted: tuple[str, ...] = ()


async def _first_error(tasks: list[Awaitable[T]]) -> list[T]:
    """Run concurrently; raise the first error (in task order) if any failed."""
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


class KeyCollision(StashError):
    reason = "KeyCollision"


@dataclass(frozen=True)
class Refs:
    """What a spec asks for, per Secret key: the credential, the JSON property to take from it, and
    the version when finding it already told us (so it needs no separate version check)."""

    refs: dict[str, base.CredentialRef]
    properties: dict[str, str]
    known_versions: dict[str, str]

    def value_of(self, key: str, value: bytes) -> bytes:
        """What goes under `key`: the credential's value, or the JSON property the entry asks for."""
        prop = self.properties.get(key)
        return extract(value, prop, f"credential {self.refs[key].name!r}") if prop else value


async def resolve_refs(spec: SyncedSecretSpec, source: base.Source) -> Refs:
    refs: dict[str, base.CredentialRef] = {}
    known: dict[str, str] = {}
    found = await _first_error([source.clients.run(source.find, f.pattern, f.tags) for f in spec.data_from])
    for entry, names in zip(spec.data_from, found, strict=True):
        for name, version in names.items():
            key = key_for_name(name)
            if key in refs and refs[key].name != name:
                raise KeyCollision(f"dataFrom found {refs[key].name!r} and {name!r}, which both become Secret key "
                                   f"{key!r}; narrow dataFrom.find or name them in data[] with their own keys")
            refs[key] = base.CredentialRef(name=name, context=entry.context)
            if version is not None:
                known[key] = version
    for d in spec.data:  # explicit entries win over found ones
        refs[d.key] = base.CredentialRef(name=d.name, version=d.version, context=d.context)
        known.pop(d.key, None)
    return Refs(refs, {d.key: d.property for d in spec.data if d.property}, known)


async def current_versions(source: base.Source, wanted: Refs) -> dict[str, str]:
    """Each key's version: what finding reported, else one check per distinct credential (batched
    where the backend's API takes many names per call)."""
    unique = sorted({r for k, r in wanted.refs.items() if k not in wanted.known_versions},
                    key=lambda r: (r.name, r.version or "", r.context_key()))
    if not unique:
        checked: list[str] = []
    elif isinstance(source, base.BatchSource):
        checked = await source.clients.run(source.current_versions, unique)
    else:
        checked = await _first_error([source.clients.run(source.current_version, r) for r in unique])
    by_ref = dict(zip(unique, checked, strict=True))
    return {k: wanted.known_versions.get(k) or by_ref[r] for k, r in wanted.refs.items()}


async def fetch_values(source: base.Source, wanted: Refs, keys: list[str],
                       versions: dict[str, str]) -> dict[str, bytes]:
    """The values of `keys`, reading each distinct (credential, version) once, then taking properties."""
    unique = sorted({(wanted.refs[k], versions[k]) for k in keys},
                    key=lambda rv: (rv[0].name, rv[0].version or "", rv[0].context_key(), rv[1]))
    if not unique:
        fetched: list[bytes] = []
    elif isinstance(source, base.BatchSource):
        fetched = await source.clients.run(source.fetch_many, unique)
    else:
        fetched = await _first_error([source.clients.run(source.fetch, r, v) for r, v in unique])
    by_ref = dict(zip(unique, fetched, strict=True))
    return {key: wanted.value_of(key, by_ref[(wanted.refs[key], versions[key])]) for key in keys}


async def read_current(source: base.CurrentReader, wanted: Refs) -> tuple[dict[str, str], dict[str, bytes]]:
    """Versions and values of every key in one pass (each distinct credential read once)."""
    unique = sorted(set(wanted.refs.values()), key=lambda r: (r.name, r.version or "", r.context_key()))
    by_ref = dict(zip(unique, await source.clients.run(source.read_current, unique), strict=True))
    versions = {key: by_ref[ref][0] for key, ref in wanted.refs.items()}
    values = {key: wanted.value_of(key, by_ref[ref][1]) for key, ref in wanted.refs.items()}
    return versions, values


def output_keys(spec: SyncedSecretSpec, refs: dict[str, Any]) -> set[str]:
    if spec.target.template is None:
        return set(refs)
    return set(spec.target.template) | (set(refs) if spec.target.merge_template else set())


async def sync(body: dict[str, Any], store_body: dict[str, Any] | None, resolver: Any, mac_key: bytes,
               sandbox: TemplateSandbox) -> Outcome:
    meta = body["metadata"]
    namespace, generation, uid = meta["namespace"], int(meta.get("generation", 0)), meta["uid"]
    status = body.get("status") or {}
    refresh = 0.0
    try:
        spec = parse_synced_secret(body)
        refresh = spec.refresh_seconds
        rotate = spec.encryption.rotate_seconds if spec.encryption is not None else 0.0
        for period in (rotate, next_rotation_seconds(spec)):  # the loop must also wake for these
            if period > 0:
                refresh = min(refresh, period) if refresh > 0 else period
        since = cond.seconds_since(status.get("encryptedAt"))
        rotation_due = rotate > 0 and (since is None or since >= rotate)
        _, source = await resolver.resolve(store_body, spec.store_kind, spec.store_name, build_source,
                                           namespace=namespace)
        generated_at = await ensure_generated(spec, source, status, generator_of(namespace, meta["name"]))
        wanted = await resolve_refs(spec, source)
        refs = wanted.refs

        target = spec.target
        # Never synced: the Secret is most likely absent, so the write tries to create it without a read.
        synced_before = status.get("dataMAC") is not None
        existing = await secrets.read(namespace, target.name) if synced_before else None
        keys = output_keys(spec, refs)
        existing_data = secrets.decode((existing or {}).get("data"))
        ours = {k: v for k, v in existing_data.items() if k in keys}
        intact = (existing is not None and set(ours) == keys
                  and mac.matches(mac_key, uid, ours, status.get("dataMAC"))
                  and (target.creation_policy == "Merge" or set(existing_data) == keys))
        previous_versions: dict[str, str] = status.get("syncedVersions") or {}
        # Nothing to compare with (first sync, spec changed, Secret missing or edited): every value is
        # needed, so where the backend can, one read gives versions and values together.
        read_all = not intact or not previous_versions or generation != status.get("observedGeneration")
        if read_all and isinstance(source, base.CurrentReader):
            versions, values = await read_current(source, wanted)
        else:
            versions = await current_versions(source, wanted)
            if intact and versions == previous_versions and generation == status.get("observedGeneration") \
                    and not rotation_due:
                await _report(body, True, "Synced", _synced_message(versions, target.name),
                              extra={"generatedAt": generated_at} if generated_at else {})
                return Outcome(True, "Synced", "unchanged", refresh_seconds=refresh)

            # Fetch only what changed; values whose version is unchanged come from our intact Secret.
            reusable = intact and target.template is None and spec.encryption is None  # ours is plaintext
            values = {}
            to_fetch = []
            for key in refs:
                if reusable and previous_versions.get(key) == versions[key] and key in ours:
                    values[key] = ours[key]
                else:
                    to_fetch.append(key)
            values.update(await fetch_values(source, wanted, to_fetch, versions))

        if target.template is not None:
            data = await sandbox.render(target.template, values, tenant=namespace)
            if target.merge_template:
                data = {**values, **data}
        else:
            data = values
        # Restarts follow the plaintext content: re-encrypting the same values must not restart anything.
        plain_data = data
        content_mac = mac.data_mac(mac_key, uid, plain_data)
        if spec.encryption is not None:
            data = await encrypt_values(data, spec.encryption, source.clients, namespace, target.name)
        total = sum(len(v) for v in data.values())
        if total > base.MAX_VALUE_BYTES:
            raise base.TooLarge(f"the Secret would hold {total} bytes; the limit is {base.MAX_VALUE_BYTES}")

        desired = secrets.DesiredSecret(namespace=namespace, name=target.name, type=target.type, data=data,
                                        labels=target.labels, annotations=target.annotations)
        data_mac = mac.data_mac(mac_key, uid, data)
        LAST_WRITTEN[(namespace, target.name)] = (uid, data_mac)
        try:
            wrote = await secrets.write(desired, secrets.Owner.of(body), target.creation_policy,
                                        existing=existing if synced_before else secrets.UNREAD)
        except (StashError, client.ApiException):
            LAST_WRITTEN.pop((namespace, target.name), None)
            raise
        if wrote:
            metrics.SECRET_WRITES.labels(kind=KIND).inc()
        # A merge patch keeps keys it does not name: null the ones the spec no longer has.
        dropped = {k: None for k in previous_versions if k not in versions}
        extra: dict[str, Any] = {"syncedVersions": {**dropped, **versions}, "dataMAC": data_mac,
                                 "secretName": target.name}
        if spec.encryption is not None:
            extra["encryptedAt"] = cond.now()
        if generated_at:
            extra["generatedAt"] = generated_at
        restarted: list[str] = []
        if spec.restart_targets:
            # The first sync only records the MAC (nothing to restart yet); afterwards every change of the
            # Secret's content patches each target once, however many keys changed together.
            previous_mac = status.get("rolloutMAC")
            if previous_mac is not None and not mac.matches(mac_key, uid, plain_data, previous_mac):
                restarted = await rollout.restart(namespace, [
                    rollout.Target(kind=t.kind, name=t.name, selector=t.match_labels) for t in spec.restart_targets],
                    content_mac)
            extra["rolloutMAC"] = content_mac
        await _report(body, True, "Synced", _synced_message(versions, target.name), extra=extra)
        return Outcome(True, "Synced", _synced_message(versions, target.name), wrote=wrote, refresh_seconds=refresh,
                       restarted=tuple(restarted))
    except (StashError, client.ApiException) as exc:
        failure = exc if isinstance(exc, StashError) else api_error(exc)
        await _report(body, False, failure.reason, failure.message, extra={})
        return Outcome(False, failure.reason, failure.message, refresh_seconds=refresh)


def _synced_message(versions: dict[str, str], secret_name: str) -> str:
    return f"Secret {secret_name!r} holds {len(versions)} credential(s) at their current versions"


async def _report(body: dict[str, Any], ok: bool, reason: str, message: str, extra: dict[str, Any]) -> None:
    meta = body["metadata"]
    generation = int(meta.get("generation", 0))
    status: dict[str, Any] = {
        "conditions": cond.ready(ok, reason, message, generation, (body.get("status") or {}).get("conditions")),
        **extra}
    if ok:
        status["lastSyncTime"] = cond.now()
        status["observedGeneration"] = generation
        metrics.LAST_SUCCESS.labels(kind=KIND, namespace=meta["namespace"], name=meta["name"]).set_to_current_time()
    metrics.SYNCS.labels(kind=KIND, reason=reason).inc()
    await patch_status(PLURAL, meta["namespace"], meta["name"], status)
