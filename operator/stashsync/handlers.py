"""The routing table: every kopf handler of the operator, registered in one place from the settings
(read once, so the shard selector and the webhook switch are fixed here). Each handler is a function
in controllers/; kopf passes it `memo` (controllers/memo.py) and the store indexes by name.

kopf's handler protocols do not list index arguments (kopf passes every index to every handler by
its name), hence the `type: ignore[arg-type]` on the handlers that take them.

Handler ids are the functions' names (or the `id=` given here): kopf records progress under them,
so renaming a handler is a change of persisted state."""

from __future__ import annotations

import kopf

from stashsync import startup
from stashsync.api import GROUP, VERSION
from stashsync.api import clustersyncedsecret as css_api
from stashsync.api.stores import PLURALS
from stashsync.controllers import (
    admission,
    clustersyncedsecret,
    feeds,
    managed_secrets,
    stores,
    sync_flow,
    syncedsecret,
    templates,
    unwrap_flow,
    wrappedsecret,
)
from stashsync.kube.labels import MANAGED_BY, MANAGED_BY_LABEL
from stashsync.settings import Settings

SYNCED, WRAPPED = sync_flow.PLURAL, unwrap_flow.PLURAL


def build_registry(settings: Settings) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    shard = settings.shard_labels

    # kopf connects as our own writes do: kubernetes_asyncio's kubeconfig or in-cluster config.
    kopf.on.login(registry=registry)(kopf.login_via_async_client)
    kopf.on.startup(registry=registry)(startup.start)
    kopf.on.cleanup(registry=registry)(startup.stop)

    # Stores: indexed for lookups by name (the index names are the handlers' argument names),
    # validated on change and by a timer.
    kopf.index(GROUP, VERSION, PLURALS["CredentialStore"], registry=registry)(stores.credentialstore_index)
    kopf.index(GROUP, VERSION, PLURALS["ClusterCredentialStore"], registry=registry)(
        stores.clustercredentialstore_index)
    for plural in PLURALS.values():
        kopf.on.resume(GROUP, VERSION, plural, id="validate", registry=registry)(stores.validate_store)
        kopf.on.create(GROUP, VERSION, plural, id="validate", registry=registry)(stores.validate_store)
        kopf.on.update(GROUP, VERSION, plural, field="spec", id="validate", registry=registry)(stores.validate_store)
        kopf.timer(GROUP, VERSION, plural, interval=stores.RECHECK_NOT_READY_SECONDS,
                   initial_delay=stores.RECHECK_NOT_READY_SECONDS, id="revalidate", registry=registry)(
            stores.revalidate_store)
        kopf.on.delete(GROUP, VERSION, plural, optional=True, registry=registry)(stores.forget_store)
        # changeFeed: one reader per store (only while the spec has one), waking the objects it names.
        kopf.daemon(GROUP, VERSION, plural, id="change-feed", when=feeds.has_change_feed, cancellation_timeout=30,
                    registry=registry)(feeds.feed_loop)

    # SyncedSecret: the scheduler runs every sync (one at a time per object: one writer per Secret);
    # every watch event keeps its copy of the object. The watch carries only this shard's objects
    # (the shard is a server-side label selector, startup.py); one relabelled away arrives as DELETED.
    kopf.on.event(GROUP, VERSION, SYNCED, registry=registry)(
        syncedsecret.synced_secret_event)  # type: ignore[arg-type]
    # Only the objects whose Secret the garbage collector may not simply delete carry our finalizer; the
    # others are released on their DELETED event (syncedsecret.needs_release).
    kopf.on.delete(GROUP, VERSION, SYNCED, labels=shard, when=syncedsecret.needs_release, registry=registry)(
        syncedsecret.release_target)
    # target.template.templateFrom: an edit of the ConfigMap (or labelled Secret) re-renders at once.
    kopf.on.event("", "v1", "configmaps", registry=registry)(syncedsecret.configmap_changed)
    kopf.on.event("", "v1", "secrets", labels={templates.TEMPLATE_LABEL: kopf.PRESENT}, id="template",
                  registry=registry)(syncedsecret.template_secret_changed)

    # ClusterSyncedSecret: one loop per object keeps its SyncedSecrets in the namespaces it selects;
    # woken by a new generation, by its SyncedSecrets' changes, and by any namespace change. Its
    # shard is chosen by its own labels (give it the shard's); its SyncedSecrets carry
    # syncedSecretMetadata.labels.
    css = css_api.PLURAL
    kopf.daemon(GROUP, VERSION, css, labels=shard, cancellation_backoff=5, cancellation_timeout=10,
                registry=registry)(clustersyncedsecret.fan_out_loop)  # type: ignore[arg-type]
    kopf.on.event(GROUP, VERSION, css, labels=shard, registry=registry)(clustersyncedsecret.spec_changed)
    kopf.on.delete(GROUP, VERSION, css, labels=shard, registry=registry)(clustersyncedsecret.remove_children)
    kopf.on.event(GROUP, VERSION, SYNCED, labels={css_api.PARENT_LABEL: kopf.PRESENT}, id="parent",
                  registry=registry)(clustersyncedsecret.child_changed)
    if not settings.watch_namespaces:  # serving listed namespaces, it reads them by name (and recheck often)
        kopf.on.event("", "v1", "namespaces", registry=registry)(clustersyncedsecret.namespace_changed)

    # WrappedSecret: unwrap once, on whichever of these comes first; afterwards only watch the Secret.
    for on in (kopf.on.resume, kopf.on.create, kopf.on.update):
        on(GROUP, VERSION, WRAPPED, labels=shard, id="unwrap", registry=registry)(
            wrappedsecret.unwrap_once)  # type: ignore[arg-type]
    kopf.on.delete(GROUP, VERSION, WRAPPED, labels=shard, registry=registry)(
        wrappedsecret.release)  # type: ignore[arg-type]

    # One watch on the Secrets we manage, handing each change to its owner's controller.
    kopf.on.event("", "v1", "secrets", labels={MANAGED_BY_LABEL: MANAGED_BY}, registry=registry)(
        managed_secrets.managed_secret_changed)

    if settings.webhook_port:
        operations = admission.OPERATIONS
        kopf.on.validate(GROUP, VERSION, SYNCED, operations=operations, id="syncedsecret", registry=registry)(
            admission.refuse_synced_secret)
        kopf.on.validate(GROUP, VERSION, WRAPPED, operations=operations, id="wrappedsecret", registry=registry)(
            admission.refuse_wrapped_secret)
        kopf.on.validate(GROUP, VERSION, css_api.PLURAL, operations=operations, id="clustersyncedsecret",
                         registry=registry)(admission.refuse_cluster_synced_secret)
        refuse_store = admission.store_refuser(settings.tenancy)
        for plural in PLURALS.values():
            kopf.on.validate(GROUP, VERSION, plural, operations=operations, id=plural, registry=registry)(refuse_store)
    return registry
