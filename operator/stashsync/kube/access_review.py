"""Who may read the operator's metrics: the caller's bearer token, checked by the API server
(TokenReview), and its permission to `get` the non-resource URL /metrics (SubjectAccessReview), as
the Kubernetes components and controller-runtime protect theirs. Metrics name every SyncedSecret (its
namespace and name); a pod that could reach the port would otherwise list them all.

Answers are kept for a short while per token (by its digest, never the token), so a scrape every few
seconds costs the API server nothing after the first; at most REVIEWS_AT_ONCE tokens are reviewed at a
time, and a caller beyond that is refused at once, so random tokens cannot flood the API server
through the operator's client (which every Secret and status write uses)."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any

from kubernetes_asyncio import client

ALLOWED_SECONDS = 60.0
DENIED_SECONDS = 10.0
STALE_ALLOWED_SECONDS = 600.0  # while reviews are busy (a flood of tokens), an allowed token stays allowed
MAX_REMEMBERED = 1024
REVIEWS_AT_ONCE = 2


class MetricsReaders:
    def __init__(self, api: client.ApiClient, path: str = "/metrics") -> None:
        self.api = api
        self.path = path
        self._answers: OrderedDict[str, tuple[float, bool]] = OrderedDict()  # token digest -> (until, allowed)
        self._reviewing = 0

    async def allowed(self, token: str) -> bool:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        kept = self._answers.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        if self._reviewing >= REVIEWS_AT_ONCE:
            # Not remembered: asked again, it is reviewed when there is room. A scraper allowed moments
            # ago is not turned away by someone else's flood of tokens.
            return kept is not None and kept[1] and now - kept[0] < STALE_ALLOWED_SECONDS
        self._reviewing += 1
        try:
            allowed = await self._review(token)
        finally:
            self._reviewing -= 1
        self._answers[key] = (now + (ALLOWED_SECONDS if allowed else DENIED_SECONDS), allowed)
        self._answers.move_to_end(key)
        while len(self._answers) > MAX_REMEMBERED:
            self._answers.popitem(last=False)
        return allowed

    async def _review(self, token: str) -> bool:
        try:
            review: dict[str, Any] = await self._create("/apis/authentication.k8s.io/v1/tokenreviews", {
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
            status = review.get("status") or {}
            if not status.get("authenticated"):
                return False
            user = status.get("user") or {}
            access: dict[str, Any] = await self._create(
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                 "spec": {"user": user.get("username"), "groups": user.get("groups") or [], "uid": user.get("uid"),
                          "extra": user.get("extra") or {},
                          "nonResourceAttributes": {"path": self.path, "verb": "get"}}})
        except client.ApiException:
            return False  # cannot tell: refused, and asked again soon
        return bool((access.get("status") or {}).get("allowed"))

    async def _create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await self.api.call_api(
            path, "POST", header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=body, auth_settings=["BearerToken"], response_types_map={201: "object", 200: "object"},
            _return_http_data_only=True)
        return answer
