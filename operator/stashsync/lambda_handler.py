"""The wrap service as an AWS Lambda (handler: stashsync.lambda_handler.handler; env TABLE, KMS_KEY).

awswrap-compatible payloads: {"value", "data_key", "client_kms_key", "ttl"} wraps and returns the
token; {"token"} unwraps (deleting the item) and returns the client layer. stashsync's operator uses
the crash-safe actions {"action": "claim" | "consume" | "release", "token", "consumer"}. Errors come
back as {"error": <reason>, "error_message": <sentence>}, never with a value or token in them."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from stashsync.aws.clients import AwsAuth, AwsClients, env_region
from stashsync.errors import StashError
from stashsync.sources.wrap import DirectWrapService, error_payload


def _service() -> DirectWrapService:
    region = env_region() or "us-east-1"
    return DirectWrapService(AwsClients(AwsAuth(region=region)), os.environ["TABLE"], os.environ.get("KMS_KEY"))


def handler(event: dict[str, Any], context: object = None) -> Any:
    service = _service()
    try:
        return _act(service, event)
    finally:
        # awswrap prunes expired items on every call; after the action, so an expired token asked
        # for is answered "Expired" (and then pruned) rather than "NotFound".
        with contextlib.suppress(StashError):
            service.prune_expired()


def _act(service: DirectWrapService, event: dict[str, Any]) -> Any:
    action = event.get("action") or ("unwrap" if event.get("token") else "wrap")
    try:
        if action == "wrap":
            return service.wrap(str(event["value"]), str(event["data_key"]), str(event["client_kms_key"]),
                                int(event["ttl"]))
        if action == "unwrap":
            return service.unwrap_and_delete(str(event["token"]))
        if action == "claim":
            return service.claim(str(event["token"]), str(event["consumer"]))
        if action == "consume":
            service.consume(str(event["token"]), str(event["consumer"]), int(event.get("ttl", 0)))
            return {"consumed": True}
        if action == "release":
            service.release(str(event["token"]), str(event["consumer"]))
            return {"released": True}
        return {"error": "BadRequest", "error_message": f"unknown action {action!r}"}
    except KeyError as exc:
        return {"error": "BadRequest", "error_message": f"missing field {exc.args[0]!r}"}
    except StashError as exc:
        return error_payload(exc)
