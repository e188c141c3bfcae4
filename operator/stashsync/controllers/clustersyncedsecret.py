"""ClusterSyncedSecret handlers: one loop per object keeps a SyncedSecret (its spec) in every namespace
it selects and the store admits, removes it from namespaces it no longer selects, and reports each
namespace that failed. The loop runs when namespaces, the object or its SyncedSecrets change, and
every RECHECK_SECONDS.

The SyncedSecrets it makes are ordinary ones: the store's `conditions` are checked again by each
of them, and they share version checks through the version index, so 200 namespaces reading one
credential cost the AWS calls of one. Each is kept exactly as the ClusterSyncedSecret says: a field a
tenant adds to its copy (a `dataFrom` reading the whole store, a template) is removed, as is one it
changes. "Exactly" is the spec with the defaults the API server fills in, read from the SyncedSecret
CRD it serves (child_schema.py)."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Any

import kopf
from kubernetes_asyncio import client

from stashsync.api import GROUP, VERSION
from stashsync.api import conditions as cond
from stashsync.api.clustersyncedsecret import (
    PARENT_LABEL,
    PLURAL,
    ClusterSyncedSecretSpec,
    parse_cluster_synced_secret,
)
from stashsync.api.defaults import apply_defaults
from stashsync.api.stores import CLUSTER_KIND, namespace_allowed, parse_store
from stashsync.controllers import events
from stashsync.controllers.memo import OperatorMemo
from stashsync.controllers.stores import StoreIndexes
from stashsync.controllers.sync_flow import PLURAL as SYNCED_PLURAL
from stashsync.controllers.wakers import sleep_unless_stopped, wait_for_wake
from stashsync.errors import SpecError, StashError
from stashsync.kube.client import api_error, is_status
from stashsync.kube.status import MERGE_PATCH, get_object, write_ready

RECHECK_SECONDS = 30.0  # also catches what no event announced (e.g. a store's conditions changed)
SETTLE_SECONDS = 1.0  # after a wake-up, let a burst of changes (200 children syncing) arrive first
MAX_LISTED_FAILURES = 50  # failedNamespaces lists at most this many; failedCount has them all
MAX_MESSAGE = 200
CONCURRENT_WRITES = 8
PROVISIONING = "Provisioning"


@dataclass(frozen=True)
class Failure:
    namespace: str
    reason: str
    message: str

    def as_status(self) -> dict[str, str]:
        message = self.message if len(self.message) <= MAX_MESSAGE else self.message[:MAX_MESSAGE - 3] + "..."
        return {"namespace": self.namespace, "reason": self.reason, "message": message}


def _key(name: str) -> tuple[str, str]:
    return ("", name)


async def fan_out_loop(stopped: kopf.DaemonStopped, body: kopf.Body, name: str, memo: OperatorMemo,
                       credentialstore_index: kopf.Index[Any, Any],
                       clustercredentialstore_index: kopf.Index[Any, Any], **_: Any) -> None:
    indexes = StoreIndexes(credentialstore_index, clustercredentialstore_index)
    wake = memo.fan_outs.register(_key(name))
    try:
        while not stopped:
            wake.clear()
            await reconcile(copy.deepcopy(dict(body)), indexes, memo)
            await wait_for_wake(stopped, wake, RECHECK_SECONDS)
            if wake.is_set():
                await sleep_unless_stopped(stopped, SETTLE_SECONDS)
    finally:
        memo.fan_outs.unregister(_key(name))


async def reconcile(body: dict[str, Any], indexes: StoreIndexes, memo: OperatorMemo) -> None:
    if body["metadata"].get("deletionTimestamp"):
        return  # being deleted: remove_children undoes it, nothing may be made again
    try:
        spec = parse_cluster_synced_secret(body)
        namespaces = await _namespaces(memo)
        selected = {ns for ns, labels in namespaces.items() if spec.selects(ns, labels)}
        admitted, failures = _admitted(spec, selected, namespaces, indexes)
        owned = await _children(memo, spec.name, spec.uid)
        current = {_namespace(c): c for c in owned if c["metadata"]["name"] == spec.child_name}
        stale = [c for c in owned if _namespace(c) not in admitted or c["metadata"]["name"] != spec.child_name]
        schema = await memo.child_schema.get(memo.api)
        failures += await _converge(memo.api, spec, admitted, current, stale, schema)
        failures += [f for ns in sorted(admitted) if (f := _child_failure(ns, current.get(ns))) is not None]
    except (StashError, client.ApiException) as exc:
        failure = exc if isinstance(exc, StashError) else api_error(exc)
        await _report(memo, body, False, failure.reason, failure.message, {})
        return
    failures.sort(key=lambda f: f.namespace)
    failed = {f.namespace for f in failures}
    pending = sorted(ns for ns in admitted - failed if not _synced(current.get(ns)))
    status = {"namespaces": len(admitted), "provisionedNamespaces": sorted(admitted - failed) or None,
              "failedNamespaces": [f.as_status() for f in failures[:MAX_LISTED_FAILURES]] or None,
              "failedCount": len(failures)}
    if failures:
        shown = ", ".join(f"{f.namespace} ({f.reason})" for f in failures[:5])
        more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
        await _report(memo, body, False, "NamespacesFailed",
                      f"{len(failures)} of {len(selected)} selected namespace(s) failed: {shown}{more}", status)
    elif pending:
        await _report(memo, body, False, PROVISIONING, f"{len(pending)} of {len(admitted)} SyncedSecret(s) have "
                      "not synced yet", status)
    else:
        await _report(memo, body, True, "Provisioned", f"a Ready SyncedSecret in each of {len(admitted)} "
                      "namespace(s)", status)


async def _namespaces(memo: OperatorMemo) -> dict[str, dict[str, str]]:
    """Every namespace the operator serves, with its labels; namespaces being deleted are left out.
    An operator serving listed namespaces reads those by name (its RBAC lists none)."""
    core = client.CoreV1Api(memo.api)
    if memo.settings.watch_namespaces:
        found = []
        for name in memo.settings.watch_namespaces:
            try:
                found.append(await core.read_namespace(name))
            except client.ApiException as exc:
                if not is_status(exc, 404):
                    raise
    else:
        found = (await core.list_namespace()).items
    return {ns.metadata.name: dict(ns.metadata.labels or {}) for ns in found if ns.metadata.deletion_timestamp is None}


def _admitted(spec: ClusterSyncedSecretSpec, selected: set[str], namespaces: dict[str, dict[str, str]],
              indexes: StoreIndexes) -> tuple[set[str], list[Failure]]:
    """The selected namespaces the store serves. A cluster store's `conditions` decide here, so no
    SyncedSecret is made where it could only fail; a namespaced store is each namespace's own."""
    if spec.synced.store_kind != CLUSTER_KIND:
        return selected, []
    store_body = indexes.store_body_for(spec.child_spec, "")
    if store_body is None:
        raise StashError(f"{CLUSTER_KIND} {spec.synced.store_name!r} not found", reason="StoreNotReady")
    try:
        store = parse_store(store_body)
    except SpecError as exc:
        raise StashError(f"{CLUSTER_KIND} {spec.synced.store_name!r}: {exc.message}", reason="StoreNotReady") from None
    refused = {ns for ns in selected if not namespace_allowed(store, ns, namespaces[ns])}
    return selected - refused, [Failure(ns, "StoreNotAllowed", f"{CLUSTER_KIND} {store.name!r} does not serve "
                                        "this namespace (see its conditions)") for ns in sorted(refused)]


async def _children(memo: OperatorMemo, name: str, uid: str) -> list[dict[str, Any]]:
    """The SyncedSecrets this object made: labelled with its name, and owned by its uid (the label
    alone proves nothing; anyone who may write a SyncedSecret may set it). An operator limited to
    some namespaces (and maybe RBAC'd for those only) lists in each of them."""
    custom = client.CustomObjectsApi(memo.api)
    selector = f"{PARENT_LABEL}={name}"
    if memo.settings.watch_namespaces:
        pages = [await custom.list_namespaced_custom_object(GROUP, VERSION, ns, SYNCED_PLURAL, label_selector=selector)
                 for ns in memo.settings.watch_namespaces]
    else:
        pages = [await custom.list_cluster_custom_object(GROUP, VERSION, SYNCED_PLURAL, label_selector=selector)]
    return [item for page in pages for item in page.get("items") or [] if _owned_by(item, uid)]


def _namespace(child: dict[str, Any]) -> str:
    return str(child["metadata"]["namespace"])


def _owned_by(child: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in child["metadata"].get("ownerReferences") or [])


def _contains(existing: Any, desired: Any) -> bool:
    """`desired` is in `existing`: the API server adds defaults, so equality would never hold."""
    if isinstance(desired, dict):
        return isinstance(existing, dict) and all(_contains(existing.get(k), v) for k, v in desired.items())
    if isinstance(desired, list):
        return (isinstance(existing, list) and len(existing) == len(desired)
                and all(_contains(e, d) for e, d in zip(existing, desired, strict=True)))
    return bool(existing == desired)


def _spec_kept(existing: dict[str, Any], spec: dict[str, Any], schema: dict[str, Any] | None) -> bool:
    """The copy's spec is the one wanted: exactly (with the server's defaults), or when the schema is
    unknown, at least containing it."""
    if schema is None:
        return _contains(existing.get("spec"), spec)
    return bool(existing.get("spec") == apply_defaults(spec, schema))


async def _converge(api: client.ApiClient, spec: ClusterSyncedSecretSpec, admitted: set[str],
                    current: dict[str, dict[str, Any]], stale: list[dict[str, Any]],
                    schema: dict[str, Any] | None) -> list[Failure]:
    """Create what is missing, restore what was edited (a spec is replaced whole, so fields a tenant
    added go too), delete what is no longer wanted."""
    custom = client.CustomObjectsApi(api)
    limit = asyncio.Semaphore(CONCURRENT_WRITES)

    async def ensure(namespace: str) -> Failure | None:
        desired = spec.child(namespace)
        existing = current.get(namespace)
        async with limit:
            try:
                if existing is None:
                    return await _create(custom, spec, namespace, desired)
                meta = {k: desired["metadata"][k] for k in ("labels", "annotations")}
                if not _spec_kept(existing, desired["spec"], schema):
                    await custom.replace_namespaced_custom_object(
                        GROUP, VERSION, namespace, SYNCED_PLURAL, spec.child_name, _restored(existing, desired))
                elif not _contains(existing["metadata"], meta):
                    await custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, SYNCED_PLURAL,
                                                                spec.child_name, {"metadata": meta},
                                                                _content_type=MERGE_PATCH)
            except client.ApiException as exc:
                if is_status(exc, 409):
                    return None  # changed meanwhile: the change wakes the next round
                error = api_error(exc)
                return Failure(namespace, error.reason, error.message)
        return None

    results = await asyncio.gather(*(ensure(ns) for ns in sorted(admitted)))
    await _delete(api, stale)
    return [r for r in results if r is not None]


def _restored(existing: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """The copy as this object wants it, for a replace preconditioned on the version read: its spec
    whole, our labels and annotations over theirs."""
    meta = {k: v for k, v in existing["metadata"].items() if k != "managedFields"}
    for field in ("labels", "annotations"):
        meta[field] = {**(meta.get(field) or {}), **desired["metadata"][field]}
    return {"apiVersion": desired["apiVersion"], "kind": desired["kind"], "metadata": meta, "spec": desired["spec"]}


async def _delete(api: client.ApiClient, children: list[dict[str, Any]]) -> None:
    custom = client.CustomObjectsApi(api)
    limit = asyncio.Semaphore(CONCURRENT_WRITES)

    async def delete(child: dict[str, Any]) -> None:
        async with limit:
            try:
                await custom.delete_namespaced_custom_object(GROUP, VERSION, _namespace(child), SYNCED_PLURAL,
                                                             child["metadata"]["name"])
            except client.ApiException as exc:
                if not is_status(exc, 404):
                    raise

    await asyncio.gather(*(delete(c) for c in children))


async def _create(custom: client.CustomObjectsApi, spec: ClusterSyncedSecretSpec, namespace: str,
                  desired: dict[str, Any]) -> Failure | None:
    try:
        await custom.create_namespaced_custom_object(GROUP, VERSION, namespace, SYNCED_PLURAL, desired)
        return None
    except client.ApiException as exc:
        if not is_status(exc, 409):
            raise
    # The name is taken: by our own child that lost its label (restored next round), or by another object.
    existing = await get_object(custom.api_client, SYNCED_PLURAL, namespace, spec.child_name)
    if existing is None:
        return None  # deleted meanwhile: made again next round
    if _owned_by(existing, spec.uid):
        await custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, SYNCED_PLURAL, spec.child_name,
                                                    {"metadata": {"labels": desired["metadata"]["labels"]}},
                                                    _content_type=MERGE_PATCH)
        return None
    return Failure(namespace, "SyncedSecretConflict",
                   f"a SyncedSecret named {spec.child_name!r} exists in this namespace and is not this object's")


def _synced(child: dict[str, Any] | None) -> bool:
    ready = cond.ready_condition((child or {}).get("status"))
    return ready is not None and ready.get("status") == "True"


def _child_failure(namespace: str, child: dict[str, Any] | None) -> Failure | None:
    """A child that tried and failed (one not yet synced is not a failure)."""
    ready = cond.ready_condition((child or {}).get("status"))
    if ready is None or ready.get("status") != "False":
        return None
    return Failure(namespace, str(ready.get("reason", "")), str(ready.get("message", "")))


async def _report(memo: OperatorMemo, body: dict[str, Any], ok: bool, reason: str, message: str,
                  extra: dict[str, Any]) -> None:
    """Written only when something changed, so a steady state costs no writes."""
    status = body.get("status") or {}
    previous = cond.ready_condition(status)
    new_condition = cond.says_something_new(previous, ok, reason, message)
    generation = body["metadata"].get("generation")
    if not new_condition and status.get("observedGeneration") == generation and all(
            status.get(k) == v for k, v in extra.items()):
        return
    await write_ready(memo.api, PLURAL, body, ok, reason, message, extra)
    if new_condition and reason != PROVISIONING:  # on the way to Ready: nothing to announce yet
        (events.normal if ok else events.warning)(body, reason, message)


async def spec_changed(event: kopf.RawEvent, name: str, body: kopf.Body, memo: OperatorMemo, **_: Any) -> None:
    """A new generation wakes the loop (its own status writes do not)."""
    if event.get("type") == "MODIFIED" and body.metadata.get("generation") != body.status.get("observedGeneration"):
        memo.fan_outs.wake(_key(name))


async def child_changed(event: kopf.RawEvent, namespace: str | None, name: str, body: kopf.Body, memo: OperatorMemo,
                  **_: Any) -> None:
    """One of the SyncedSecrets it made was edited, deleted, or became Ready or not: look again. Its
    routine status writes (every refresh) change none of that and wake nothing."""
    parent = (body.metadata.get("labels") or {}).get(PARENT_LABEL)
    if not parent:
        return
    key = (str(namespace), name)
    ready = cond.ready_condition(dict(body.status)) or {}
    state = (body.metadata.get("generation"), ready.get("status"), ready.get("reason"))
    if event.get("type") == "DELETED":
        memo.child_states.pop(key, None)
    elif memo.child_states.get(key) == state:
        return
    else:
        memo.child_states[key] = state
    memo.fan_outs.wake(_key(parent))


async def namespace_changed(name: str, memo: OperatorMemo, **_: Any) -> None:
    """A namespace came, went or changed labels: every ClusterSyncedSecret looks again."""
    memo.resolver.namespace_labels.forget(name)
    memo.fan_outs.wake_all()


async def remove_children(body: kopf.Body, memo: OperatorMemo, **_: Any) -> None:
    """Deleting a ClusterSyncedSecret deletes the SyncedSecrets it made (and so their Secrets, by their
    own deletionPolicy). Done here rather than left to the garbage collector, so it also holds where
    none runs and is finished before the object goes."""
    await _delete(memo.api, await _children(memo, str(body.metadata["name"]), str(body.metadata["uid"])))

