"""What lives for the operator process: kopf's memo. The CLI builds it from the settings (read
once), the startup handler completes it (the MAC key), and kopf hands every handler a shallow copy,
so all of them share these objects. Handlers take it as `memo: OperatorMemo`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import kopf
from kubernetes_asyncio import client

from stashsync.aws.threads import AwsWorkers
from stashsync.controllers.child_schema import ChildSchema
from stashsync.controllers.feed_health import FeedHealth
from stashsync.controllers.restarts import RestartCoordinator
from stashsync.controllers.scheduler import RunSync, SyncScheduler
from stashsync.controllers.store_resolver import StoreResolver
from stashsync.controllers.templates import TemplateWatch
from stashsync.controllers.version_index import VersionIndex
from stashsync.controllers.wakers import Wakers
from stashsync.kube.secrets import Secrets
from stashsync.sandbox import TemplateSandbox
from stashsync.settings import Settings

Key = tuple[str, str]  # (namespace, Secret name)


class WrittenSecrets:
    """What each SyncedSecret last wrote: (owner uid, MAC of the data), per Secret. The Secret watch
    compares with it to tell our own writes from someone else's edit."""

    def __init__(self) -> None:
        self._written: dict[Key, tuple[str, str]] = {}

    def remember(self, key: Key, uid: str, data_mac: str) -> None:
        self._written[key] = (uid, data_mac)

    def remember_if_unknown(self, key: Key, uid: str, data_mac: str) -> None:
        self._written.setdefault(key, (uid, data_mac))

    def forget(self, key: Key) -> None:
        self._written.pop(key, None)

    def get(self, key: Key) -> tuple[str, str] | None:
        return self._written.get(key)


# Slots: kopf keeps a shallow copy of the memo for every object it watches (SyncedSecrets and their
# Secrets); without a __dict__ each copy is a fifth of the size.
@dataclass(slots=True)
class OperatorMemo:
    settings: Settings
    api: client.ApiClient  # the operator's own writes (kopf has its own client)
    secrets: Secrets  # target Secrets, through `api`
    workers: AwsWorkers  # the threads every AWS call runs in, in turns per namespace
    resolver: StoreResolver
    sandbox: TemplateSandbox = field(default_factory=TemplateSandbox)
    # The webhook's template checks: a child of their own, so reviews never take the renders' turns.
    admission_checks: TemplateSandbox = field(default_factory=lambda: TemplateSandbox(size=1))
    written: WrittenSecrets = field(default_factory=WrittenSecrets)
    syncs: SyncScheduler = field(init=False)  # every SyncedSecret's next sync, by (namespace, name)
    fan_outs: Wakers = field(default_factory=Wakers)  # ClusterSyncedSecret loops, by ("", name)
    # A ClusterSyncedSecret's SyncedSecrets as last seen: (generation, Ready status, reason); a change wakes it.
    child_states: dict[Key, tuple[object, object, object]] = field(default_factory=dict)
    store_checked: dict[str, float] = field(default_factory=dict)  # store uid -> monotonic time of last validation
    # store uid -> (generation, timed checks of it failed in a row)
    store_failures: dict[str, tuple[int, int]] = field(default_factory=dict)
    force_seen: dict[Key, str] = field(default_factory=dict)  # SyncedSecret -> force-sync value already woken for
    mac_key: bytes = b""  # loaded (or created) by the startup handler
    versions: VersionIndex = field(init=False)  # version checks shared by the objects reading a credential
    restarts: RestartCoordinator = field(init=False)  # rotation restarts, coalesced per workload and capped
    templates: TemplateWatch = field(init=False)  # templateFrom ConfigMaps/Secrets, and who renders them
    feeds: FeedHealth = field(default_factory=FeedHealth)  # stores whose change feed is read (the backstop)
    child_schema: ChildSchema = field(default_factory=ChildSchema)  # what ClusterSyncedSecret copies hold
    kopf_settings: kopf.OperatorSettings | None = None  # set at start-up, for the syncs' object loggers
    serving: list[asyncio.Task[None]] = field(default_factory=list)  # the scheduler's task, once started

    def __post_init__(self) -> None:
        s = self.settings
        self.syncs = SyncScheduler(s.sync_concurrency, s.sync_per_namespace)
        self.versions = VersionIndex(self.syncs.wake)
        self.templates = TemplateWatch(self.syncs.wake)
        self.restarts = RestartCoordinator(self.api, s.restart_window, s.restart_max_concurrent,
                                           s.restart_progress_timeout, lambda: self.mac_key,
                                           per_namespace=s.restart_per_namespace)

    def start_syncs(self, run: RunSync) -> None:
        """Start the scheduler once (kopf hands each object a copy of the memo; the list is shared)."""
        if not self.serving:
            self.serving.append(asyncio.create_task(self.syncs.serve(run)))

    async def stop_syncs(self, grace: float) -> None:
        await self.syncs.stop(grace)
        for task in self.serving:
            task.cancel()

    @classmethod
    def from_settings(cls, settings: Settings, api: client.ApiClient) -> OperatorMemo:
        secrets = Secrets(api)
        workers = AwsWorkers(settings.aws_workers, settings.aws_workers_per_namespace, settings.long_poll_workers,
                             settings.long_polls_per_namespace)
        return cls(settings=settings, api=api, secrets=secrets, workers=workers,
                   resolver=StoreResolver(settings.tenancy, api, secrets, workers))
