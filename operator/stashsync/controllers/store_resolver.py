"""Resolving a store for a sync: may this namespace use it, and the clients built for it, kept warm.

The auth input (e.g. a static-keys Secret) is re-read every AUTH_TTL_SECONDS; clients are rebuilt
only if it changed. Assumed-role sessions are named after the namespace that uses them."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client

from stashsync import errors
from stashsync.api import conditions as cond
from stashsync.api.stores import StoreSpec, namespace_allowed, needs_namespace_labels, parse_store
from stashsync.api.tenancy import TenantPolicy, check_store
from stashsync.aws.clients import AwsAuth
from stashsync.aws.ratelimit import StoreBudget
from stashsync.aws.threads import AwsWorkers
from stashsync.errors import SpecError
from stashsync.kube import identity
from stashsync.kube.client import is_status
from stashsync.kube.identity import NamespaceLabels
from stashsync.kube.secrets import Secrets, decode
from stashsync.sources.registry import StoreHandle, StoreIdentity, build_store

AUTH_TTL_SECONDS = 300.0  # re-read a store's auth Secret at most this often
# Built sessions kept (about 1 MiB each with the shared botocore loader); the least recently used goes
# first, and is built again (one STS call for an assumed role) when next needed. One namespace keeps at
# most MAX_BUILT_PER_NAMESPACE of them: a tenant with hundreds of stores evicts its own sessions, not
# every other tenant's.
MAX_BUILT = 256
MAX_BUILT_PER_NAMESPACE = 32
Key = tuple[str, int, str]  # (store uid, generation, session namespace: whose session it is)



@dataclass
class _Built:
    checked: float  # monotonic time the auth input was last read
    auth: AwsAuth
    value: StoreHandle


class StoreResolver:
    """Builds what a store's users need once per store spec and reuses it: boto3 clients and STS
    sessions stay warm. The auth input (e.g. a static-keys Secret) is re-read every AUTH_TTL_SECONDS,
    and the clients are rebuilt only if it changed."""

    def __init__(self, tenancy: TenantPolicy, api: client.ApiClient, secrets: Secrets,
                 workers: AwsWorkers | None = None, max_built: int = MAX_BUILT) -> None:
        self.tenancy = tenancy
        self.api = api
        self.secrets = secrets
        self.workers = workers
        self.namespace_labels = NamespaceLabels(api)
        self._built: OrderedDict[Key, _Built] = OrderedDict()
        self._building: dict[Key, asyncio.Future[StoreHandle]] = {}  # one build per key at a time
        self._limiters: dict[str, tuple[tuple[float, int], StoreBudget]] = {}
        self.max_built = max_built
        self.max_per_namespace = min(MAX_BUILT_PER_NAMESPACE, max_built)

    def _fresh(self, key: Key) -> StoreHandle | None:
        cached = self._built.get(key)
        if cached is None or time.monotonic() - cached.checked >= AUTH_TTL_SECONDS:
            return None
        self._built.move_to_end(key)
        return cached.value

    def _keep(self, key: Key, built: _Built) -> None:
        self._built[key] = built
        self._built.move_to_end(key)
        own = [k for k in self._built if k[2] == key[2]]  # oldest first
        for old in own[:max(0, len(own) - self.max_per_namespace)]:
            del self._built[old]
        while len(self._built) > self.max_built:
            self._built.popitem(last=False)

    def __len__(self) -> int:
        return len(self._built)

    def limiter(self, store: StoreSpec, uid: str) -> StoreBudget:
        """One request budget per store, shared in turns by every client built for it (all namespaces)."""
        want = (store.rate_limit.requests_per_second, store.rate_limit.burst)
        existing = self._limiters.get(uid)
        if existing is None or existing[0] != want:
            existing = (want, StoreBudget(*want))
            self._limiters[uid] = existing
        return existing[1]

    async def build(self, store: StoreSpec, uid: str, generation: int, consumer: str | None = None) -> StoreHandle:
        """`consumer`: the namespace a cluster store is used from. It names the role session (so
        CloudTrail shows who read what), which makes one cached session per namespace. The handle's
        calls are made for `consumer` (none: the store's own namespace, or the cluster admin's)."""
        tenant = consumer if consumer is not None else (store.namespace or "")
        session = session_namespace(store, consumer)
        key = (uid, generation, session)
        found = self._fresh(key)
        if found is None:
            building = self._building.get(key)
            if building is None:  # this key's build only: a slow one never holds another store's users
                building = asyncio.ensure_future(self._build(key, store))
                self._building[key] = building
                building.add_done_callback(lambda _: self._building.pop(key, None))
            found = await asyncio.shield(building)
        return found.for_tenant(tenant)

    async def _build(self, key: Key, store: StoreSpec) -> StoreHandle:
        uid, generation, session = key
        auth = await aws_auth(self.api, self.secrets, store, session, self.limiter(store, uid))
        cached = self._built.get(key)
        if cached is not None and cached.auth == auth:
            found = cached.value
        else:  # boto3 sessions and clients take milliseconds of CPU: in the owner's threads, not on the loop
            identity = StoreIdentity(f"{uid}/{generation}", session)
            found = await self._in_thread(session_owner(session), build_store, store, auth, identity, self.workers)
        self.forget(uid, keep_generation=generation)
        self._keep(key, _Built(time.monotonic(), auth, found))
        return found

    async def _in_thread(self, tenant: str, fn: Callable[..., StoreHandle], *args: Any) -> StoreHandle:
        if self.workers is None:
            return fn(*args)
        return await self.workers.calls.run(tenant, fn, *args)

    def forget(self, uid: str, keep_generation: int | None = None) -> None:
        """Drop what was built for a store (or for its older generations)."""
        for old in [k for k in self._built if k[0] == uid and k[1] != keep_generation]:
            del self._built[old]
        if keep_generation is None:
            self._limiters.pop(uid, None)

    async def resolve(self, body: dict[str, Any] | None, kind: str, name: str, namespace: str) -> StoreHandle:
        """The store named by a resource in `namespace`, if that namespace may use it."""
        if body is None:
            raise errors.StoreNotReady(f"{kind} {name!r} not found")
        ready = cond.ready_condition(body.get("status"))
        if ready is not None and ready.get("status") == "False":
            raise errors.StoreNotReady(f"{kind} {name!r} is not ready: {ready.get('message', '')}")
        try:
            store = parse_store(body)
            check_store(store, self.tenancy)
        except SpecError as exc:
            raise errors.StoreNotReady(f"{kind} {name!r}: {exc.message}") from None
        labels = await self.namespace_labels.get(namespace) if needs_namespace_labels(store) else None
        if not namespace_allowed(store, namespace, labels):
            raise errors.StoreNotAllowed(f"{kind} {name!r} does not serve namespace {namespace!r} (see its conditions)")
        meta = body["metadata"]
        return await self.build(store, meta["uid"], int(meta.get("generation", 0)), namespace)


OPERATOR_SESSION = ":operator"  # the session of the operator's own identity (no namespace holds a ':')


def session_namespace(store: StoreSpec, consumer: str | None) -> str:
    """Whose AWS session a store's calls use: its namespace's (a namespaced store, or a cluster store with
    a role, assumed per consuming namespace), or the operator's own."""
    if store.namespace is not None:
        return store.namespace
    return consumer if consumer and store.auth.role_arn else OPERATOR_SESSION


def session_owner(session: str) -> str:
    """The tenant a session's work is done for ("": the cluster admin's)."""
    return "" if session == OPERATOR_SESSION else session


def role_session_name(namespace: str, store_name: str) -> str:
    """stashsync-<namespace>-<store>, in the characters and 64-character length STS accepts."""
    return re.sub(r"[^\w+=,.@-]", "-", f"stashsync-{namespace}-{store_name}")[:64]


def _web_identity(api: client.ApiClient, store: StoreSpec) -> Callable[[], str] | None:
    """A blocking token getter for botocore's credential refresh, which runs in worker threads:
    it asks the operator's event loop for a fresh TokenRequest token each time."""
    sa = store.auth.service_account
    if sa is None:
        return None
    loop = asyncio.get_running_loop()

    def token() -> str:
        future = asyncio.run_coroutine_threadsafe(
            identity.service_account_token(api, sa.namespace, sa.name, list(sa.audiences)), loop)
        try:
            return future.result(timeout=30)
        except Exception as exc:
            what = f"service account {sa.namespace}/{sa.name}"
            if is_status(exc, 404):
                raise errors.AccessDenied(f"{what} not found") from None
            if is_status(exc, 403):
                raise errors.AccessDenied(f"the operator may not request tokens for {what}") from None
            raise errors.AccessDenied(f"could not get a token for {what}: {type(exc).__name__}") from None
    return token


async def aws_auth(api: client.ApiClient, secrets: Secrets, store: StoreSpec, consumer: str,
                   limiter: StoreBudget | None = None) -> AwsAuth:
    auth = AwsAuth(region=store.region, endpoint=store.endpoint, endpoints=store.endpoints,
                   role_arn=store.auth.role_arn, external_id=store.auth.external_id,
                   session_name=role_session_name(consumer, store.name), web_identity_token=_web_identity(api, store),
                   limiter=limiter)
    ref = store.auth.secret_ref
    if ref is None:
        return auth
    secret = await secrets.read(ref.namespace, ref.name)
    if secret is None:
        raise errors.AccessDenied(f"auth Secret {ref.namespace}/{ref.name} not found")
    data = decode(secret.get("data"))
    try:
        return dataclasses.replace(
            auth, access_key_id=data[ref.access_key_id_key].decode(),
            secret_access_key=data[ref.secret_access_key_key].decode(),
            session_token=data[ref.session_token_key].decode() if ref.session_token_key else None)
    except KeyError as exc:
        raise errors.AccessDenied(f"auth Secret {ref.namespace}/{ref.name} has no key {exc.args[0]!r}") from None
    except UnicodeDecodeError:
        raise errors.AccessDenied(f"auth Secret {ref.namespace}/{ref.name} holds keys that are not text") from None
