"""Stores: validated on change and every few minutes; resolved (with a cached Source) for syncs."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import kopf

from stashsync.api import GROUP, VERSION
from stashsync.api import conditions as cond
from stashsync.api.stores import (
    CLUSTER_KIND,
    PLURALS,
    StoreSpec,
    namespace_allowed,
    needs_namespace_labels,
    parse_store,
)
from stashsync.api.tenancy import check_store
from stashsync.controllers import events, runtime
from stashsync.errors import SpecError, StashError
from stashsync.kube import identity, secrets
from stashsync.kube.client import is_status
from stashsync.kube.status import patch_status
from stashsync.sources import base
from stashsync.sources.aws import AwsAuth
from stashsync.sources.ratelimit import TokenBucket
from stashsync.sources.registry import build_source, build_wrap_service

AUTH_TTL_SECONDS = 300.0  # re-read a store's auth Secret at most this often
REVALIDATE_SECONDS = 300.0  # a Ready store is checked again this often
RECHECK_NOT_READY_SECONDS = 15.0  # a store that is not Ready (e.g. its auth Secret is missing) sooner
# Built sessions kept (about 1 MiB each with the shared botocore loader); the least recently used goes
# first, and is built again (one STS call for an assumed role) when next needed.
MAX_BUILT = 256

T = TypeVar("T")
_last_checked: dict[str, float] = {}  # store uid -> monotonic time of its last validation


@dataclass
class _Built:
    checked: float  # monotonic time the auth input was last read
    auth: AwsAuth
    value: Any


class StoreResolver:
    """Builds what a store's users need once per store spec and reuses it: boto3 clients and STS
    sessions stay warm. The auth input (e.g. a static-keys Secret) is re-read every AUTH_TTL_SECONDS,
    and the clients are rebuilt only if it changed. `build` is a registry function."""

    def __init__(self, max_built: int = MAX_BUILT) -> None:
        self._built: OrderedDict[tuple[str, int, str, str], _Built] = OrderedDict()
        self._limiters: dict[str, tuple[tuple[float, int], TokenBucket]] = {}
        self._lock = asyncio.Lock()
        self.max_built = max_built

    def _fresh(self, key: tuple[str, int, str, str]) -> Any | None:
        cached = self._built.get(key)
        if cached is None or time.monotonic() - cached.checked >= AUTH_TTL_SECONDS:
            return None
        self._built.move_to_end(key)
        return cached.value

    def _keep(self, key: tuple[str, int, str, str], built: _Built) -> None:
        self._built[key] = built
        self._built.move_to_end(key)
        while len(self._built) > self.max_built:
            self._built.popitem(last=False)

    def __len__(self) -> int:
        return len(self._built)

    def limiter(self, store: StoreSpec, uid: str) -> TokenBucket:
        """One request budget per store, shared by every client built for it (all namespaces)."""
        want = (store.rate_limit.requests_per_second, store.rate_limit.burst)
        existing = self._limiters.get(uid)
        if existing is None or existing[0] != want:
            existing = (want, TokenBucket(*want))
            self._limiters[uid] = existing
        return existing[1]

    async def build(self, store: StoreSpec, uid: str, generation: int, build: Callable[[StoreSpec, AwsAuth], T],
                    consumer: str | None = None) -> T:
        """`consumer`: the namespace a cluster store is used from. It names the role session (so
        CloudTrail shows who read what), which makes one cached session per namespace."""
        consumer = session_namespace(store, consumer)
        key = (uid, generation, build.__name__, consumer)
        found = self._fresh(key)
        if found is None:
            async with self._lock:
                found = self._fresh(key)
                if found is None:
                    auth = await aws_auth(store, consumer, self.limiter(store, uid))
                    cached = self._built.get(key)
                    found = cached.value if cached is not None and cached.auth == auth else build(store, auth)
                    self.forget(uid, keep_generation=generation)
                    self._keep(key, _Built(time.monotonic(), auth, found))
        result: T = found
        return result

    def forget(self, uid: str, keep_generation: int | None = None) -> None:
        """Drop what was built for a store (or for its older generations)."""
        for old in [k for k in self._built if k[0] == uid and k[1] != keep_generation]:
            del self._built[old]
        if keep_generation is None:
            self._limiters.pop(uid, None)

    async def resolve(self, body: dict[str, Any] | None, kind: str, name: str,
                      build: Callable[[StoreSpec, AwsAuth], T], namespace: str) -> tuple[StoreSpec, T]:
        """The store named by a resource in `namespace`, if that namespace may use it."""
        if body is None:
            raise base.StoreNotReady(f"{kind} {name!r} not found")
        ready = cond.ready_condition(body.get("status"))
        if ready is not None and ready.get("status") == "False":
            raise base.StoreNotReady(f"{kind} {name!r} is not ready: {ready.get('message', '')}")
        try:
            store = parse_store(body)
            check_store(store, runtime.settings().tenancy)
        except SpecError as exc:
            raise base.StoreNotReady(f"{kind} {name!r}: {exc.message}") from None
        labels = await identity.namespace_labels(namespace) if needs_namespace_labels(store) else None
        if not namespace_allowed(store, namespace, labels):
            raise base.StoreNotAllowed(f"{kind} {name!r} does not serve namespace {namespace!r} (see its conditions)")
        meta = body["metadata"]
        return store, await self.build(store, meta["uid"], int(meta.get("generation", 0)), build, namespace)


def session_namespace(store: StoreSpec, consumer: str | None) -> str:
    if store.namespace is not None:
        return store.namespace
    return consumer if consumer and store.auth.role_arn else "cluster"


def role_session_name(namespace: str, store_name: str) -> str:
    """stashsync-<namespace>-<store>, in the characters and 64-character length STS accepts."""
    return re.sub(r"[^\w+=,.@-]", "-", f"stashsync-{namespace}-{store_name}")[:64]


def _web_identity(store: StoreSpec) -> Callable[[], str] | None:
    """A blocking token getter for botocore's credential refresh, which runs in worker threads:
    it asks the operator's event loop for a fresh TokenRequest token each time."""
    sa = store.auth.service_account
    if sa is None:
        return None
    loop = asyncio.get_running_loop()

    def token() -> str:
        future = asyncio.run_coroutine_threadsafe(
            identity.service_account_token(sa.namespace, sa.name, list(sa.audiences)), loop)
        try:
            return future.result(timeout=30)
        except Exception as exc:
            what = f"service account {sa.namespace}/{sa.name}"
            if is_status(exc, 404):
                raise base.AccessDenied(f"{what} not found") from None
            if is_status(exc, 403):
                raise base.AccessDenied(f"the operator may not request tokens for {what}") from None
            raise base.AccessDenied(f"could not get a token for {what}: {type(exc).__name__}") from None
    return token


async def aws_auth(store: StoreSpec, consumer: str, limiter: TokenBucket | None = None) -> AwsAuth:
    auth = AwsAuth(region=store.region, endpoint=store.endpoint, endpoints=store.endpoints,
                   role_arn=store.auth.role_arn, external_id=store.auth.external_id,
                   session_name=role_session_name(consumer, store.name), web_identity_token=_web_identity(store),
                   limiter=limiter)
    ref = store.auth.secret_ref
    if ref is None:
        return auth
    secret = await secrets.read(ref.namespace, ref.name)
    if secret is None:
        raise base.AccessDenied(f"auth Secret {ref.namespace}/{ref.name} not found")
    data = secrets.decode(secret.get("data"))
    try:
        return dataclasses.replace(
            auth, access_key_id=data[ref.access_key_id_key].decode(),
            secret_access_key=data[ref.secret_access_key_key].decode(),
            session_token=data[ref.session_token_key].decode() if ref.session_token_key else None)
    except KeyError as exc:
        raise base.AccessDenied(f"auth Secret {ref.namespace}/{ref.name} has no key {exc.args[0]!r}") from None
    except UnicodeDecodeError:
        raise base.AccessDenied(f"auth Secret {ref.namespace}/{ref.name} holds keys that are not text") from None


RESOLVER = StoreResolver()


def lookup(index: kopf.Index[Any, dict[str, Any]], key: Any) -> dict[str, Any] | None:
    store = index.get(key)
    return next(iter(store), None) if store is not None else None


def store_body_for(spec: dict[str, Any], namespace: str, handler_kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The store a spec's storeRef names, from the indexes kopf passes to handlers as keyword
    arguments (named after the index functions below). A namespaced store only in `namespace`."""
    ref = spec.get("storeRef") or {}
    if ref.get("kind") == CLUSTER_KIND:
        return lookup(handler_kwargs["clustercredentialstore_index"], ref.get("name"))
    return lookup(handler_kwargs["credentialstore_index"], (namespace, ref.get("name")))


@kopf.index(GROUP, VERSION, "credentialstores")
def credentialstore_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {(namespace, name): {"metadata": dict(body.metadata), "spec": dict(body.spec),
                                "status": dict(body.status), "kind": "CredentialStore"}}


@kopf.index(GROUP, VERSION, "clustercredentialstores")
def clustercredentialstore_index(name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {name: {"metadata": dict(body.metadata), "spec": dict(body.spec), "status": dict(body.status),
                   "kind": CLUSTER_KIND}}


async def validate_store(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    raw = {"kind": body["kind"], "metadata": dict(body.metadata), "spec": dict(body.spec)}
    generation = int(body.metadata.get("generation", 0))
    _last_checked[body.metadata["uid"]] = time.monotonic()
    try:
        store = parse_store(raw)
        check_store(store, runtime.settings().tenancy)
        uid = body.metadata["uid"]
        if store.wrap is not None:
            clients, service = await RESOLVER.build(store, uid, generation, build_wrap_service)
            await clients.run(service.validate)
        else:
            source = await RESOLVER.build(store, uid, generation, build_source)
            await source.clients.run(source.validate)
        ok, reason, message = True, "Valid", f"{store.provider} store is reachable"
    except StashError as exc:
        ok, reason, message = False, exc.reason, exc.message
    previous = cond.ready_condition(dict(body.status))
    changed = previous is None or (previous.get("status"), previous.get("reason"), previous.get("message")) != (
        "True" if ok else "False", reason, message)
    if changed:
        status = {"observedGeneration": generation,
                  "conditions": cond.ready(ok, reason, message, generation, body.status.get("conditions"))}
        await _patch(body, status)
        (events.normal if ok else events.warning)(body, reason, message)
        logger.info("store validated", extra={"ready": ok, "reason": reason})


async def _patch(body: kopf.Body, status: dict[str, Any]) -> None:
    await patch_status(PLURALS[body["kind"]], body.metadata.get("namespace"), body.metadata["name"], status)


async def revalidate_store(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """Not-Ready stores are checked again soon (a missing auth Secret or table may appear);
    Ready ones only every few minutes."""
    ready = cond.ready_condition(dict(body.status))
    since = time.monotonic() - _last_checked.get(body.metadata["uid"], 0.0)
    if ready is None or ready.get("status") != "True" or since >= REVALIDATE_SECONDS:
        await validate_store(body, logger)


@kopf.on.delete(GROUP, VERSION, "credentialstores", optional=True)
@kopf.on.delete(GROUP, VERSION, "clustercredentialstores", optional=True)
def forget_store(uid: str, **_: Any) -> None:
    _last_checked.pop(uid, None)
    RESOLVER.forget(uid)


for _plural in PLURALS.values():
    kopf.on.resume(GROUP, VERSION, _plural, id="validate")(validate_store)
    kopf.on.create(GROUP, VERSION, _plural, id="validate")(validate_store)
    kopf.on.update(GROUP, VERSION, _plural, field="spec", id="validate")(validate_store)
    kopf.timer(GROUP, VERSION, _plural, interval=RECHECK_NOT_READY_SECONDS, initial_delay=RECHECK_NOT_READY_SECONDS,
               id="revalidate")(revalidate_store)
