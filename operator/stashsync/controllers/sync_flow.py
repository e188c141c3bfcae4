"""One SyncedSecret sync, in named steps (the shape of External Secrets Operator's reconcile):

    plan -> open the store -> generate what is due -> resolve refs -> read the target
    -> read values (versions first: is_unchanged? done) -> build data -> write -> request restarts -> report

Every failure is a StashError, reported once by the same path. Values live only in local variables
of one sync; nothing secret is logged or kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kubernetes_asyncio import client

from stashsync import errors, metrics
from stashsync.api import conditions as cond
from stashsync.api.syncedsecret import SyncedSecretSpec, key_for_name, parse_synced_secret
from stashsync.controllers import events, templates
from stashsync.controllers.generate import ensure_generated, generator_of, next_rotation_seconds
from stashsync.controllers.memo import OperatorMemo, WrittenSecrets
from stashsync.controllers.restarts import OwnerRef
from stashsync.controllers.schedule import next_delay
from stashsync.controllers.scheduler import SyncScheduler
from stashsync.controllers.templates import Templates
from stashsync.controllers.version_index import JOIN_SECONDS, Subscription
from stashsync.crypto import mac
from stashsync.errors import StashError
from stashsync.kube import limits, rollout, secrets
from stashsync.kube.client import api_error
from stashsync.kube.labels import FORCE_SYNC_ANNOTATION
from stashsync.kube.status import write_ready
from stashsync.sandbox import TemplateSandbox
from stashsync.sources import base
from stashsync.sources.recent import KEEP_SECONDS
from stashsync.sources.registry import StoreHandle, StoreIdentity
from stashsync.values.properties import extract
from stashsync.values.reencrypt import encrypt_values

PLURAL = "syncedsecrets"
KIND = "SyncedSecret"
T = TypeVar("T")

@dataclass(frozen=True)
class SyncOutcome:
    ok: bool
    reason: str
    message: str
    wrote: bool = False
    status: dict[str, Any] = field(default_factory=dict)  # status fields the report writes besides Ready
    next_seconds: float | None = None  # when the next sync is due; None: only when woken
    store_identity: str = ""  # the store read (its change feed may stretch the timer)


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


async def resolve_refs(spec: SyncedSecretSpec, store: StoreHandle, shared: Subscription) -> Refs:
    source = store.reader()
    refs: dict[str, base.CredentialRef] = {}
    known: dict[str, str] = {}

    async def find_each(keys: list[Any]) -> list[dict[str, str | None]]:
        return await _first_error([store.run(source.find, k[2], dict(k[3])) for k in keys])

    found = await shared.get([(store.identity, "find", f.pattern, tuple(sorted(f.tags.items())))
                              for f in spec.data_from], find_each)
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


def _version_key(store: StoreHandle, ref: base.CredentialRef) -> tuple[StoreIdentity, str, base.CredentialRef]:
    return (store.identity, "version", ref)


async def current_versions(store: StoreHandle, wanted: Refs, shared: Subscription) -> dict[str, str]:
    """Each key's version: what finding reported, else from the shared version index, which checks
    each distinct credential once for all the objects reading it (batched where the backend's API
    takes many names per call; the room left carries the store's credentials checked longest ago,
    which this namespace reads too: base.AheadChecker)."""
    source = store.reader()
    unique = sorted({r for k, r in wanted.refs.items() if k not in wanted.known_versions},
                    key=lambda r: (r.name, r.version or "", r.context_key()))

    async def check(keys: list[Any]) -> list[str]:
        refs = [k[2] for k in keys]
        if base.is_ahead_checker(source):
            along: list[Any] = shared.index.take_along(
                store.identity, shared.subscriber[0], keys, source.room_to_check(refs))
            if along:
                started = shared.begin()
                versions, extra = await store.run(source.current_versions_ahead, refs, [k[2] for k in along])
                shared.record_along([_version_key(store, r) for r in extra], list(extra.values()), started)
                return versions
        if base.is_batch_source(source):
            return await store.run(source.current_versions, refs)
        return await _first_error([store.run(source.current_version, r) for r in refs])

    checked = await shared.get([_version_key(store, r) for r in unique], check) if unique else []
    by_ref = dict(zip(unique, checked, strict=True))
    return {k: wanted.known_versions.get(k) or by_ref[r] for k, r in wanted.refs.items()}


async def fetch_values(store: StoreHandle, wanted: Refs, keys: list[str], versions: dict[str, str],
                       share: bool = True) -> dict[str, bytes]:
    """The values of `keys`, reading each distinct (credential, version) once, then taking properties.
    With `share`, a value read at that version through this store handle seconds ago is taken instead
    (when a credential rotates, its subscribers all fetch the new version at once)."""
    source = store.reader()
    unique = sorted({(wanted.refs[k], versions[k]) for k in keys},
                    key=lambda rv: (rv[0].name, rv[0].version or "", rv[0].context_key(), rv[1]))
    by_ref: dict[tuple[base.CredentialRef, str], bytes] = {}
    if share:
        by_ref = {rv: value for rv in unique if (value := store.recent.get(*rv)) is not None}
    missing = [rv for rv in unique if rv not in by_ref]
    if not missing:
        fetched: list[bytes] = []
    elif base.is_batch_source(source):
        fetched = await store.run(source.fetch_many, missing)
    else:
        fetched = await _first_error([store.run(source.fetch, r, v) for r, v in missing])
    for (ref, version), value in zip(missing, fetched, strict=True):
        store.recent.put(ref, version, value)
        by_ref[(ref, version)] = value
    return {key: wanted.value_of(key, by_ref[(wanted.refs[key], versions[key])]) for key in keys}


def _read_moments_ago(store: StoreHandle, unique: list[base.CredentialRef],
                      shared: Subscription) -> list[base.Read] | None:
    """(version, value) of each credential without a call, when another object's read (or check)
    of every one of them is at most KEEP_SECONDS old and its value at that version was read through
    this store handle in that time: what the objects of a burst of first syncs share. Failing that,
    what a read made for another sync found for each of them ahead of this one (see read_current)."""
    keys = [_version_key(store, r) for r in unique]
    versions = shared.peek(keys, KEEP_SECONDS)
    if versions is None:
        return _read_ahead_of_me(store, unique, shared)
    kept = [store.recent.get(ref, version) for ref, version in zip(unique, versions, strict=True)]
    values = [value for value in kept if value is not None]
    if len(values) < len(kept):
        return None
    shared.adopt(keys)  # subscribed as its own read would have
    return list(zip(versions, values, strict=True))


def _read_ahead_of_me(store: StoreHandle, unique: list[base.CredentialRef],
                      shared: Subscription) -> list[base.Read] | None:
    found = []
    for ref in unique:
        ahead = store.recent.read_ahead(ref, min(KEEP_SECONDS, shared.max_age))
        if ahead is None:
            return None
        found.append((ref, ahead))
    for ref, (version, _, started) in found:
        shared.record([_version_key(store, ref)], [version], started)  # as if this sync had read it then
    return [(version, value) for _, (version, value, _) in found] or None


async def _read_by_others(store: StoreHandle, unique: list[base.CredentialRef],
                          shared: Subscription) -> list[base.Read] | None:
    read = _read_moments_ago(store, unique, shared)
    if read is None and (in_flight := store.recent.in_flight(unique, store.tenant)):
        reads, foreign = in_flight
        # Another sync is reading every one of them for this one; one of another namespace waits in that
        # namespace's turns, so for a moment only (JOIN_SECONDS), then this sync reads them itself.
        await asyncio.wait(reads, timeout=JOIN_SECONDS if foreign else None)
        read = _read_moments_ago(store, unique, shared)
    return read


def _to_read_ahead(store: StoreHandle, unique: list[base.CredentialRef],
                   upcoming: Callable[[], Iterable[base.CredentialRef]]) -> list[base.CredentialRef]:
    """Credentials of waiting first syncs that fit in the calls reading `unique`, not read (or being
    read) ahead already."""
    source = store.reader()
    room = source.room_ahead(unique) if base.is_ahead_reader(source) else 0
    picked: list[base.CredentialRef] = []
    if room:
        own = set(unique)
        for ref in upcoming():
            if ref not in own and ref not in picked and store.recent.wanted_ahead(ref):
                picked.append(ref)
                if len(picked) == room:
                    break
    return picked


async def _read_now(store: StoreHandle, unique: list[base.CredentialRef], ahead: list[base.CredentialRef],
                    shared: Subscription) -> list[base.Read]:
    """One read of `unique` (and `ahead`, in the same calls) at the source; what it found goes to the
    shared index and the store's short-lived cache."""
    source = store.reader()
    started = shared.begin()
    store.recent.reading(ahead, store.tenant)
    try:
        if ahead:
            assert base.is_ahead_reader(source)
            read, extra = await store.run(source.read_current_ahead, unique, ahead)
            for ref, (version, value) in extra.items():
                store.recent.put_ahead(ref, version, value, started)
        else:
            assert base.is_current_reader(source)
            read = await store.run(source.read_current, unique)
    finally:
        store.recent.done_reading(ahead)
    shared.record([_version_key(store, r) for r in unique], [version for version, _ in read], started)
    for ref, (version, value) in zip(unique, read, strict=True):
        store.recent.put(ref, version, value)
    return read


async def read_current(store: StoreHandle, wanted: Refs, shared: Subscription, share: bool = True,
                       upcoming: Callable[[], Iterable[base.CredentialRef]] | None = None
                       ) -> tuple[dict[str, str], dict[str, bytes]]:
    """Versions and values of every key in one pass (each distinct credential read once); the
    versions read go to the shared index as a check would. With `share`, what was read seconds ago
    for another object is taken instead (see _read_moments_ago), and the room left in the calls
    carries the credentials of the `upcoming` first syncs through this store, which then take
    them from here: one call for up to 20 objects on 20 credentials (base.AheadReader)."""
    unique = sorted(set(wanted.refs.values()), key=lambda r: (r.name, r.version or "", r.context_key()))
    read = await _read_by_others(store, unique, shared) if share else None
    if read is None:
        ahead = _to_read_ahead(store, unique, upcoming) if share and upcoming is not None else []
        read = await _read_now(store, unique, ahead, shared)
    by_ref = dict(zip(unique, read, strict=True))
    versions = {key: by_ref[ref][0] for key, ref in wanted.refs.items()}
    values = {key: wanted.value_of(key, by_ref[ref][1]) for key, ref in wanted.refs.items()}
    return versions, values


AHEAD_OBJECTS = 40  # waiting syncs looked at for credentials to read ahead (at most 19 fit a call)


def upcoming_reads(syncs: SyncScheduler, p: Plan) -> Iterator[base.CredentialRef]:
    """The current credentials the first syncs waiting in this namespace will read through the same
    store (the same namespace and store give the same store handle, so the same AWS identity)."""
    for raw in syncs.waiting(p.namespace, AHEAD_OBJECTS):
        body = json.loads(raw)
        if (body.get("status") or {}).get("dataMAC") is not None or forced_sync(body) is not None:
            continue  # not a first sync, or one that reads anew
        try:
            spec = parse_synced_secret(body)
        except (StashError, LookupError, TypeError, ValueError):
            continue  # its own sync reports it
        if (spec.store_kind, spec.store_name) == (p.spec.store_kind, p.spec.store_name):
            yield from (base.CredentialRef(name=d.name, context=d.context) for d in spec.data if not d.version)


def output_keys(spec: SyncedSecretSpec, refs: dict[str, Any]) -> set[str]:
    if not spec.target.templated:
        return set(refs)
    return spec.target.template_keys | (set(refs) if spec.target.merge_template else set())


@dataclass(frozen=True)
class Plan:
    """What one sync works from: the object as it was when the sync began."""

    body: dict[str, Any]
    spec: SyncedSecretSpec
    status: dict[str, Any]
    refresh_seconds: float  # when the loop must wake next: refresh, re-encryption or rotation, whichever first
    rotation_due: bool  # spec.encryption.rotateEvery has passed: re-encrypt even unchanged values
    force: str | None  # a stashsync.dev/force-sync value not yet acted on: read every value now

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def uid(self) -> str:
        return str(self.body["metadata"]["uid"])

    @property
    def generation(self) -> int:
        return int(self.body["metadata"].get("generation", 0))

    @property
    def spec_changed(self) -> bool:
        return self.generation != self.status.get("observedGeneration")

    @property
    def previous_versions(self) -> dict[str, str]:
        return dict(self.status.get("syncedVersions") or {})


def plan(body: dict[str, Any]) -> Plan:
    spec = parse_synced_secret(body)
    status = body.get("status") or {}
    refresh = spec.periodic_seconds
    rotate = spec.encryption.rotate_seconds if spec.encryption is not None else 0.0
    for period in (rotate, next_rotation_seconds(spec)):  # the loop must also wake for these
        if period > 0:
            refresh = min(refresh, period) if refresh > 0 else period
    since = cond.seconds_since(status.get("encryptedAt"))
    return Plan(body, spec, status, refresh, rotate > 0 and (since is None or since >= rotate), forced_sync(body))


def forced_sync(body: dict[str, Any]) -> str | None:
    """The force-sync annotation's value when it differs from the one the status says was acted on."""
    wanted = ((body.get("metadata") or {}).get("annotations") or {}).get(FORCE_SYNC_ANNOTATION)
    return wanted if wanted and wanted != (body.get("status") or {}).get("forcedSync") else None


@dataclass(frozen=True)
class TargetState:
    """Our Secret as this sync found it."""

    existing: Any  # the Secret read (None: absent), or secrets.UNREAD when it was never synced
    ours: dict[str, bytes]  # the values under the keys this spec writes
    intact: bool  # holds exactly what we last wrote (by our MAC), so its values may be reused


async def read_target(kube_secrets: secrets.Secrets, p: Plan, keys: set[str], mac_key: bytes) -> TargetState:
    """Never synced: the Secret is most likely absent, so the write tries to create it without a read."""
    if p.status.get("dataMAC") is None:
        return TargetState(secrets.UNREAD, {}, False)
    existing = await kube_secrets.read(p.namespace, p.spec.target.name)
    data = secrets.decode((existing or {}).get("data"))
    ours = {k: v for k, v in data.items() if k in keys}
    intact = (existing is not None and set(ours) == keys and mac.matches(mac_key, p.uid, ours, p.status.get("dataMAC"))
              and (p.spec.target.creation_policy == "Merge" or set(data) == keys))
    return TargetState(existing, ours, intact)


CREATED_ONCE = "the Secret was created once and is left as it is (refreshPolicy CreatedOnce)"


def created_once(p: Plan, target: TargetState) -> bool:
    """CreatedOnce, and our Secret is there as we wrote it: nothing to read or write. A missing or
    edited Secret is written again (from the current values), as is one a force-sync asks for."""
    return p.spec.refresh_policy == "CreatedOnce" and target.intact and p.force is None


def needs_every_value(p: Plan, target: TargetState) -> bool:
    """Nothing to compare with (first sync, spec changed, Secret missing or edited), or a forced sync."""
    return not target.intact or not p.previous_versions or p.spec_changed or p.force is not None


def is_unchanged(p: Plan, target: TargetState, versions: dict[str, str], templates: Templates) -> bool:
    return (target.intact and versions == p.previous_versions and not p.spec_changed and not p.rotation_due
            and p.force is None and templates.versions == dict(p.status.get("templateVersions") or {}))


def reusable_values(p: Plan, target: TargetState, versions: dict[str, str]) -> dict[str, bytes]:
    """Values whose version is unchanged, taken from our intact Secret instead of the source; only
    when the Secret holds them as they came (no template, no encryption) and no forced sync asks for
    them to be read anew."""
    if not target.intact or p.spec.target.templated or p.spec.encryption is not None or p.force:
        return {}
    return {k: v for k, v in target.ours.items() if k in versions and p.previous_versions.get(k) == versions[k]}


async def read_values(p: Plan, store: StoreHandle, wanted: Refs, target: TargetState, shared: Subscription,
                      templates: Templates, upcoming: Callable[[], Iterable[base.CredentialRef]] | None = None
                      ) -> tuple[dict[str, str], dict[str, bytes]] | None:
    """Versions and values to write; None when nothing changed. Where every value is needed anyway
    and the backend can, one read gives versions and values together (and, for first syncs, those
    of the `upcoming` ones too)."""
    share = p.force is None  # a forced sync reads every value anew, as its user asked
    if needs_every_value(p, target) and base.is_current_reader(store.reader()):
        return await read_current(store, wanted, shared, share, upcoming)
    versions = await current_versions(store, wanted, shared)
    if is_unchanged(p, target, versions, templates):
        return None
    values = reusable_values(p, target, versions)
    values.update(await fetch_values(store, wanted, [k for k in wanted.refs if k not in values], versions, share))
    return versions, values


async def build_data(p: Plan, store: StoreHandle, values: dict[str, bytes], sandbox: TemplateSandbox,
                     templates: dict[str, str] | None) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(the plaintext content, what the Secret holds): rendered, then re-encrypted if asked."""
    target = p.spec.target
    plain = values
    if templates is not None:
        rendered = await sandbox.render(templates, values, tenant=p.namespace)
        plain = {**values, **rendered} if target.merge_template else rendered
    data = plain
    if p.spec.encryption is not None:
        data = await encrypt_values(plain, p.spec.encryption, store.clients, p.namespace, target.name)
    total = sum(len(v) for v in data.values())
    if total > limits.MAX_SECRET_BYTES:
        raise errors.TooLarge(f"the Secret would hold {total} bytes; the limit is {limits.MAX_SECRET_BYTES}")
    return plain, data


async def write_secret(kube_secrets: secrets.Secrets, p: Plan, data: dict[str, bytes], data_mac: str,
                       target: TargetState, written: WrittenSecrets) -> bool:
    """One preconditioned write. What we write is remembered first, so the Secret watch can tell
    our own write from someone else's edit."""
    spec_target = p.spec.target
    desired = secrets.DesiredSecret(namespace=p.namespace, name=spec_target.name, type=spec_target.type, data=data,
                                    labels=spec_target.labels, annotations=spec_target.annotations,
                                    immutable=spec_target.immutable)
    written.remember((p.namespace, spec_target.name), p.uid, data_mac)
    try:
        wrote = await kube_secrets.write(desired, secrets.Owner.of(p.body), spec_target.creation_policy,
                                    existing=target.existing)
    except (StashError, client.ApiException):
        written.forget((p.namespace, spec_target.name))
        raise
    if wrote:
        metrics.SECRET_WRITES.labels(kind=KIND).inc()
    return wrote


def needs_restart(p: Plan, mac_key: bytes, plain: dict[str, bytes]) -> bool:
    """The first sync only records the MAC (nothing to restart yet); afterwards every change of the
    Secret's content restarts, however many keys changed together. Re-encrypting the same values
    restarts nothing: this follows the plaintext."""
    previous_mac = p.status.get("rolloutMAC")
    return bool(p.spec.restart_targets) and previous_mac is not None and not mac.matches(
        mac_key, p.uid, plain, previous_mac)


def restart_owed(p: Plan) -> str | None:
    """The content MAC a restart was asked for and not yet done (the operator stopped meanwhile)."""
    pending = p.status.get("pendingRolloutMAC")
    if p.spec.restart_targets and pending and pending != p.status.get("rolloutMAC"):
        return str(pending)
    return None


async def request_restarts(memo: OperatorMemo, p: Plan, content_mac: str) -> bool:
    """Hand the targets the Secret concerns to the restart coordinator, which restarts each workload
    once per window; a Warning names those it does not concern. False when no workload is left:
    nothing to restart, and nothing owed."""
    workloads: list[rollout.Workload] = []
    refused: list[rollout.Workload] = []
    for t in p.spec.restart_targets:
        found = await rollout.resolve(memo.api, p.namespace, rollout.Target(t.kind, t.name, t.match_labels),
                                      p.spec.target.name)
        workloads += found.workloads
        refused += found.refused
    if refused:
        events.warning(p.body, "RestartNotAllowed", f"not restarted: {', '.join(sorted({str(w) for w in refused}))}; "
                       f"their pods do not use Secret {p.spec.target.name!r} (annotate a workload "
                       f"{rollout.RESTART_OPT_IN}: {p.spec.target.name} to restart it all the same)")
    if not workloads:
        return False
    meta = p.body["metadata"]
    owner = OwnerRef(p.body["apiVersion"], KIND, PLURAL, p.namespace, p.name, str(meta["uid"]))
    memo.restarts.request(owner, content_mac, sorted(set(workloads), key=str))
    return True


def synced_status(p: Plan, versions: dict[str, str], data_mac: str, content_mac: str,
                  generated_at: dict[str, str], restart: bool,
                  template_versions: dict[str, str] | None = None) -> dict[str, Any]:
    template_versions = template_versions or {}
    # A merge patch keeps keys it does not name: null the ones the spec no longer has.
    dropped = {k: None for k in p.previous_versions if k not in versions}
    status: dict[str, Any] = {"syncedVersions": {**dropped, **versions}, "dataMAC": data_mac,
                              "secretName": p.spec.target.name}
    if p.spec.encryption is not None:
        status["encryptedAt"] = cond.now()
    if generated_at:
        status["generatedAt"] = generated_at
    if restart:
        status["pendingRolloutMAC"] = content_mac  # rolloutMAC follows once the coordinator restarted them
    elif p.spec.restart_targets:
        status["rolloutMAC"] = content_mac
    if p.force is not None:
        status["forcedSync"] = p.force
    if template_versions or p.status.get("templateVersions"):
        dropped_refs = {k: None for k in p.status.get("templateVersions") or {} if k not in template_versions}
        status["templateVersions"] = {**dropped_refs, **template_versions}
    return status


async def sync(body: dict[str, Any], store_body: dict[str, Any] | None, memo: OperatorMemo,
               failures: int = 0) -> SyncOutcome:
    """One sync and its one report. `failures`: how many syncs in a row failed before this one (the
    retry backoff); the report says when the next sync is due."""
    refresh = 0.0
    try:
        p = plan(body)
        refresh = p.refresh_seconds
        done = await _steps(p, store_body, memo)
    except (StashError, client.ApiException) as exc:
        failure = exc if isinstance(exc, StashError) else api_error(exc)
        done = SyncOutcome(False, failure.reason, failure.message)
    if done.ok and done.store_identity:
        refresh = memo.feeds.stretch(done.store_identity, refresh)  # a change feed wakes it meanwhile
    delay = next_delay(done.ok, done.reason, refresh, 0 if done.ok else failures + 1, memo.settings.refresh_jitter)
    meta = body["metadata"]
    metrics.REFRESH_INTERVAL.labels(kind=KIND, namespace=meta["namespace"], name=meta["name"]).set(refresh)
    await _report(memo.api, body, done, delay)
    return dataclasses.replace(done, next_seconds=delay)


async def _steps(p: Plan, store_body: dict[str, Any] | None, memo: OperatorMemo) -> SyncOutcome:
    mac_key = memo.mac_key
    store = await memo.resolver.resolve(store_body, p.spec.store_kind, p.spec.store_name, namespace=p.namespace)
    generated_at = await ensure_generated(p.spec, store, p.status, generator_of(p.namespace, p.name))
    shared = Subscription(memo.versions, (p.namespace, p.name), p.spec.periodic_seconds)
    wanted = await resolve_refs(p.spec, store, shared)
    target = await read_target(memo.secrets, p, output_keys(p.spec, wanted.refs), mac_key)
    if created_once(p, target):
        return SyncOutcome(True, "Synced", CREATED_ONCE, store_identity=store.identity.store)
    memo.templates.subscribe((p.namespace, p.name), templates.source_keys(p.namespace, p.spec.target.template_from))
    loaded = await templates.load(memo.api, memo.secrets, p.namespace, p.spec.target.template,
                                  p.spec.target.template_from)
    read = await read_values(p, store, wanted, target, shared, loaded, lambda: upcoming_reads(memo.syncs, p))
    if read is None:
        unchanged: dict[str, Any] = {"generatedAt": generated_at} if generated_at else {}
        if (owed := restart_owed(p)) is not None and not await request_restarts(memo, p, owed):
            unchanged["rolloutMAC"] = owed  # its workloads are gone meanwhile: nothing is owed any more
        return SyncOutcome(True, "Synced", _synced_message(p.previous_versions, p.spec.target.name),
                           status=unchanged, store_identity=store.identity.store)
    versions, values = read
    plain, data = await build_data(p, store, values, memo.sandbox, loaded.texts)
    data_mac, content_mac = mac.data_mac(mac_key, p.uid, data), mac.data_mac(mac_key, p.uid, plain)
    wrote = await write_secret(memo.secrets, p, data, data_mac, target, memo.written)
    restart = needs_restart(p, mac_key, plain) and await request_restarts(memo, p, content_mac)
    status = synced_status(p, versions, data_mac, content_mac, generated_at, restart, loaded.versions)
    return SyncOutcome(True, "Synced", _synced_message(versions, p.spec.target.name), wrote=wrote,
                       store_identity=store.identity.store, status=status)


def _synced_message(versions: dict[str, str], secret_name: str) -> str:
    return f"Secret {secret_name!r} holds {len(versions)} credential(s) at their current versions"


async def _report(api: client.ApiClient, body: dict[str, Any], done: SyncOutcome, delay: float | None) -> None:
    meta = body["metadata"]
    extra = dict(done.status)
    if done.ok:
        extra["lastSyncTime"] = cond.now()
        metrics.LAST_SUCCESS.labels(kind=KIND, namespace=meta["namespace"], name=meta["name"]).set_to_current_time()
    extra["nextSyncTime"] = cond.now(delay) if delay is not None else None
    metrics.SYNCS.labels(kind=KIND, reason=done.reason).inc()
    await write_ready(api, PLURAL, body, done.ok, done.reason, done.message, extra, observed=done.ok)
