"""Operator start-up and shutdown: kopf's settings in one place (each with why), and the part of the
memo that needs the running loop and the API (the MAC key)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from stashsync import metrics_http
from stashsync.api import GROUP
from stashsync.controllers.admission import webhook_server
from stashsync.controllers.memo import OperatorMemo
from stashsync.controllers.sync_flow import PLURAL as SYNCED_PLURAL
from stashsync.kube import mac_key as mac_key_store
from stashsync.kube.access_review import MetricsReaders

SYNCS_STOP_SECONDS = 10.0  # running syncs end within this when the operator stops, or are cancelled

# SyncedSecrets have only an event handler and a deletion handler: the sync compares
# metadata.generation with status.observedGeneration itself. Storing kopf's diff base on them would
# cost one PATCH and one more watch event per object for nothing. Secrets, ConfigMaps and Namespaces
# are only watched (event handlers): kopf would still copy each of their events to diff it.
WITHOUT_DIFF_BASE = frozenset({"SyncedSecret", "Secret", "ConfigMap", "Namespace"})


class SelectiveDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's annotation diff base, kept only for kinds outside `skipped_kinds`."""

    def __init__(self, *, skipped_kinds: Iterable[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.skipped_kinds = frozenset(skipped_kinds)

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        # kopf builds the essence of every watch event (a deep copy of the body) to diff it with the
        # stored one; with nothing stored, nothing is compared, so there is nothing to copy either.
        if body.get("kind") in self.skipped_kinds:
            return kopf.BodyEssence()
        return super().build(body=body, extra_fields=extra_fields)

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        if body.get("kind") in self.skipped_kinds:
            return None
        return super().fetch(body=body)

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        if body.get("kind") not in self.skipped_kinds:
            super().store(body=body, patch=patch, essence=essence)


def configure_persistence(settings: kopf.OperatorSettings) -> None:
    # Handler state goes to annotations with our prefix, so status stays ours and readable.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = SelectiveDiffBaseStorage(
        skipped_kinds=WITHOUT_DIFF_BASE, prefix=GROUP, key="last-handled-configuration",
        ignored_fields=["spec.token"])  # a WrappedSecret's inline token never goes into an annotation
    settings.persistence.finalizer = f"{GROUP}/finalizer"


async def start(settings: kopf.OperatorSettings, logger: kopf.Logger, memo: OperatorMemo, **_: Any) -> None:
    ours = memo.settings
    memo.kopf_settings = settings
    configure_persistence(settings)
    # kopf turns log lines into Events; only warnings and errors, we post our own state changes.
    settings.posting.level = logging.WARNING
    # Watches are re-opened every few minutes, so a silently dropped connection is noticed.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # kopf keeps a worker (and the event it last handled) per object until it has been idle this long
    # (5 s by default): while 10,000 objects converge that is thousands of them at once. Measured at
    # 3,000 objects: peak RSS 235 -> 183 MiB, no more CPU.
    settings.queueing.idle_timeout = 0.2
    if ours.shard_selector:
        # Another shard's SyncedSecrets are not even streamed; one relabelled out of ours arrives as
        # DELETED, which drops it from the scheduler.
        settings.watching.label_selectors[GROUP, SYNCED_PLURAL] = ours.shard_selector
    # Serving listed namespaces (rbac.scope namespaced), the operator may list no namespace and watch
    # no CRD: kopf serves those names and the resources it discovers at start (an upgrade restarts it).
    settings.scanning.disabled = bool(ours.watch_namespaces)
    # With replicas peering (--peering), a standby takes over this long after the active one vanished.
    settings.peering.lifetime = ours.peering_lifetime
    settings.execution.max_workers = ours.aws_workers
    if ours.webhook_port:
        settings.admission.server = webhook_server(ours)
        settings.admission.managed = ours.webhook_managed or None
    # boto3 calls run in memo.workers, in turns per namespace (aws/threads.py); the default executor
    # is left to what else runs in threads.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=4, thread_name_prefix="default"))
    memo.mac_key = await mac_key_store.load_or_create(memo.api, ours.namespace, ours.mac_key_secret)
    if ours.metrics_port:
        readers = MetricsReaders(memo.api) if ours.metrics_auth == "kubernetes" else None
        metrics_http.serve(ours.metrics_port, ours.metrics_addr, readers.allowed if readers else None)
    logger.info("stashsync started", extra={"namespace": ours.namespace,
                                            "watch_namespaces": list(ours.watch_namespaces)})


async def stop(memo: OperatorMemo, **_: Any) -> None:
    await memo.stop_syncs(SYNCS_STOP_SECONDS)  # a sync cut off here runs again after the restart
    await memo.restarts.stop()  # a restart cut off here is asked for again by its owner's next sync
    await memo.sandbox.close()  # the API client is closed by whoever opened it, after kopf returns
    await memo.admission_checks.close()
    memo.workers.shutdown()
