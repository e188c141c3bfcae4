"""boto3 sessions for a store: region, endpoint, auth; call counting; AWS errors -> SourceError."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
import botocore
import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.session

from stashsync import errors, metrics
from stashsync.aws.ratelimit import StoreBudget
from stashsync.aws.threads import AwsThreads, AwsWorkers

T = TypeVar("T")

_THROTTLE_CODES = {"ThrottlingException", "Throttling", "ProvisionedThroughputExceededException",
                   "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled",
                   "LimitExceededException", "SlowDown"}
# A concurrent transaction held the item: nothing is wrong, the same call succeeds a moment later.
_TRANSIENT_CODES = {"TransactionConflictException", "TransactionInProgressException", "InternalServerError"}
_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
                 "InvalidClientTokenId", "ExpiredTokenException", "KMSInvalidStateException",
                 "DisabledException", "NotAuthorized", "IncompleteSignature", "SignatureDoesNotMatch"}

_NOT_FOUND_CODES = {"ResourceNotFoundException", "NoSuchBucket", "NotFoundException", "ParameterNotFound",
                    "NoSuchKey", "404", "NotFound", "ParameterVersionNotFound"}


def env_region() -> str | None:
    """The region the environment names, as the AWS SDKs read it."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


@dataclass(frozen=True)
class AwsAuth:
    """Resolved auth for one store. Static keys come from a Secret the operator read."""

    region: str
    endpoint: str | None = None
    endpoints: tuple[tuple[str, str], ...] = ()  # per-service overrides of `endpoint`
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    session_name: str = "stashsync"
    # A service account token for AssumeRoleWithWebIdentity, fetched anew at each STS refresh.
    web_identity_token: Callable[[], str] | None = field(default=None, compare=False)
    # The store's shared request budget (None: unlimited, as in the CLI).
    limiter: StoreBudget | None = field(default=None, compare=False)


def call_result(status: int, code: str) -> str:
    """A small, fixed set of outcomes for the metric's `result` label."""
    if status < 400:
        return "success"
    if code in _THROTTLE_CODES:
        return "throttled"
    if code in _DENIED_CODES:
        return "denied"
    if code in _NOT_FOUND_CODES:
        return "not_found"
    return "server_error" if status >= 500 else "client_error"


def _error_code(parsed: Any) -> str:
    """The AWS error code of a parsed answer ("" for a success)."""
    return str(((parsed or {}).get("Error") or {}).get("Code", "")) if isinstance(parsed, dict) else ""


def _count_call(model: Any, http_response: Any = None, parsed: Any = None, **_: Any) -> None:
    status = getattr(http_response, "status_code", 0) or 0
    code = _error_code(parsed)
    metrics.AWS_CALLS.labels(service=model.service_model.service_name, operation=model.name,
                             result=call_result(status, code)).inc()


def _count_unreachable(service: str, event_name: str = "", exception: Exception | None = None, **_: Any) -> None:
    """No HTTP answer at all (connection refused, reset, timed out); after-call counts every answered call."""
    if exception is not None:
        result = "denied" if isinstance(exception, botocore.exceptions.NoCredentialsError) else "unreachable"
        metrics.AWS_CALLS.labels(service=service, operation=event_name.rsplit(".", 1)[-1], result=result).inc()


def _instrument(client: Any, limiter: StoreBudget | None) -> None:
    service = client.meta.service_model.service_name
    client.meta.events.register("after-call.*.*", _count_call)
    client.meta.events.register("after-call-error.*.*", lambda **kw: _count_unreachable(service, **kw))
    if limiter is not None:
        # before-sign fires for every HTTP attempt (each is signed anew), so retries spend the budget too,
        # and an attempt that waits its turn (ratelimit) is signed after the wait, not before it.
        client.meta.events.register("before-sign.*.*", lambda **_: limiter.spend())
        # response-received fires for every attempt's answer: a throttled one lowers the budget.
        client.meta.events.register("response-received.*.*", lambda **kw: _on_answer(limiter, **kw))


def _on_answer(limiter: StoreBudget, parsed_response: Any = None, **_: Any) -> None:
    if _error_code(parsed_response) in _THROTTLE_CODES:
        limiter.throttled()


_CLIENT_CONFIG = botocore.config.Config(
    retries={"mode": "standard", "max_attempts": 3},  # bounded, jittered by botocore
    connect_timeout=5, read_timeout=20, max_pool_connections=50,
)
# An SQS change feed long-polls for 20 s: its reads may take that long before an answer.
_LONG_POLL_CONFIG = _CLIENT_CONFIG.merge(botocore.config.Config(read_timeout=30))


# Every session reads botocore's service models, endpoint rules and partitions through one loader,
# which caches what it parsed: a session per store then costs its clients, not its own copy of the
# JSON (about 11 MiB per store before).
_SHARED_LOADER = botocore.loaders.create_loader()


def _botocore_session() -> botocore.session.Session:
    session = botocore.session.get_session()
    session.register_component("data_loader", _SHARED_LOADER)
    return session


class AwsClients:
    """Thread-safe cache of boto3 clients for one store (boto3 clients are thread-safe; sessions are
    not). `workers`: the operator's shared threads (None: a thread per call, as in the CLI)."""

    def __init__(self, auth: AwsAuth, workers: AwsWorkers | None = None) -> None:
        self.auth = auth
        self.workers = workers
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._session = self._make_session()

    def _make_session(self) -> boto3.session.Session:
        base_session = boto3.session.Session(
            aws_access_key_id=self.auth.access_key_id, aws_secret_access_key=self.auth.secret_access_key,
            aws_session_token=self.auth.session_token, region_name=self.auth.region,
            botocore_session=_botocore_session())
        if not self.auth.role_arn:
            return base_session
        return _assumed_role_session(base_session, self.auth, self._endpoint_for)

    def _endpoint_for(self, service: str) -> str | None:
        # The store's override; otherwise None, and boto3 honours AWS_ENDPOINT_URL(_<SERVICE>) itself.
        return dict(self.auth.endpoints).get(service, self.auth.endpoint)

    async def run(self, tenant: str, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call that uses these clients for `tenant` (a namespace; "" for the cluster
        admin's work): its turn in the store's request budget on the event loop, then a worker thread
        in the tenant's turn."""
        return await self._run(self.workers.calls if self.workers else None, tenant, fn, *args)

    async def run_long_poll(self, tenant: str, fn: Callable[..., T], *args: Any) -> T:
        """As `run`, for a call that may wait long for its answer (a long poll): in threads of its own,
        never the ones the syncs' calls need."""
        return await self._run(self.workers.long_polls if self.workers else None, tenant, fn, *args)

    async def compute(self, tenant: str, fn: Callable[..., T], *args: Any) -> T:
        """CPU work for `tenant` that makes no AWS request (age encryption, say): in the tenant's share of
        the worker threads, off the event loop, with no turn in the request budget."""
        threads = self.workers.calls if self.workers else None
        if threads is None:
            return await asyncio.to_thread(fn, *args)
        return await threads.run(tenant, fn, *args)

    async def _run(self, threads: AwsThreads | None, tenant: str, fn: Callable[..., T], *args: Any) -> T:
        limiter = self.auth.limiter
        if limiter is not None:
            await limiter.wait_turn(tenant)
            fn, args = limiter.prepaid, (tenant, asyncio.get_running_loop(), fn, *args)
        if threads is None:
            return await asyncio.to_thread(fn, *args)
        return await threads.run(tenant, fn, *args)

    def client(self, service: str) -> Any:
        with self._lock:
            existing = self._clients.get(service)
            if existing is None:
                config = _LONG_POLL_CONFIG if service == "sqs" else _CLIENT_CONFIG
                existing = self._session.client(service, endpoint_url=self._endpoint_for(service),
                                                config=config, region_name=self.auth.region)
                _instrument(existing, self.auth.limiter)
                self._clients[service] = existing
            return existing


def _assumed_role_session(base_session: boto3.session.Session, auth: AwsAuth,
                          endpoint_for: Callable[[str], str | None]) -> boto3.session.Session:
    """A session whose credentials come from AssumeRole (or AssumeRoleWithWebIdentity with a service
    account token) and refresh themselves shortly before they expire: one STS call per session
    lifetime, not one per reconcile."""
    from botocore.credentials import DeferredRefreshableCredentials

    # AssumeRoleWithWebIdentity is authenticated by the token alone: send it unsigned, so no other
    # credential (e.g. the operator's own) signs a request to an endpoint a store named.
    config = _CLIENT_CONFIG.merge(botocore.config.Config(signature_version=botocore.UNSIGNED)) \
        if auth.web_identity_token is not None else _CLIENT_CONFIG
    sts = base_session.client("sts", endpoint_url=endpoint_for("sts"), config=config)
    _instrument(sts, auth.limiter)

    def refresh() -> dict[str, str]:
        kwargs: dict[str, Any] = {"RoleArn": auth.role_arn, "RoleSessionName": auth.session_name}
        with translate_errors(f"assume role {auth.role_arn}"):
            if auth.web_identity_token is not None:
                creds = sts.assume_role_with_web_identity(WebIdentityToken=auth.web_identity_token(),
                                                          **kwargs)["Credentials"]
            else:
                if auth.external_id:
                    kwargs["ExternalId"] = auth.external_id
                creds = sts.assume_role(**kwargs)["Credentials"]
        return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"], "expiry_time": creds["Expiration"].isoformat()}

    botocore_session = _botocore_session()
    botocore_session._credentials = DeferredRefreshableCredentials(
        refresh_using=refresh, method="assume-role-with-web-identity" if auth.web_identity_token else "sts-assume-role")
    return boto3.session.Session(botocore_session=botocore_session, region_name=auth.region)


@contextmanager
def translate_errors(what: str, not_found: type[errors.SourceError] = errors.CredentialNotFound,
                     passthrough: frozenset[str] = frozenset()) -> Iterator[None]:
    """Map AWS/botocore errors to SourceErrors with a sentence a person can act on.

    Error codes in `passthrough` are re-raised untouched for the caller to handle (e.g. a
    failed conditional write, which is an expected outcome rather than an error)."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in passthrough:
            raise
        if code in _THROTTLE_CODES:
            raise errors.Throttled(f"AWS throttled {what}: {code}") from None
        if code in _TRANSIENT_CODES:
            raise errors.Unavailable(f"AWS could not complete {what} just now: {code}") from None
        if code in _DENIED_CODES:
            # AWS's own message is left out: it may quote what was sent, and with an endpoint a tenant
            # may use, its text is that endpoint's to choose. The code says what happened.
            raise errors.AccessDenied(f"AWS denied {what}: {code}") from None
        if code == "InvalidCiphertextException":
            raise errors.ContextMismatch(
                f"KMS could not decrypt {what}: wrong encryption context or key") from None
        if code in _NOT_FOUND_CODES:
            raise not_found(f"{what}: {code}") from None
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500:
            raise errors.Unavailable(f"AWS failed {what}: {code or status}") from None
        raise errors.SourceError(f"AWS error on {what}: {code}") from None
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
            botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError) as exc:
        raise errors.Unavailable(f"AWS unreachable for {what}: {type(exc).__name__}") from None
    except botocore.exceptions.NoCredentialsError:
        raise errors.AccessDenied(f"no AWS credentials available for {what}") from None
