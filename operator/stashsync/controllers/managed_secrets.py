"""One watch on the Secrets we manage, handing each change to its owner's controller."""

from __future__ import annotations

from typing import Any

import kopf

from stashsync.controllers import sync_flow, syncedsecret, wrappedsecret
from stashsync.kube.labels import MANAGED_BY, MANAGED_BY_LABEL, OWNER_ANNOTATION


@kopf.on.event("", "v1", "secrets", labels={MANAGED_BY_LABEL: MANAGED_BY})
async def managed_secret_changed(event: kopf.RawEvent, namespace: str | None, name: str, body: kopf.Body,
                                 **_: Any) -> None:
    owner = (body.metadata.get("annotations") or {}).get(OWNER_ANNOTATION, "")
    kind, _sep, owner_name = owner.partition("/")
    if not owner_name:
        return
    if kind == sync_flow.KIND:
        syncedsecret.secret_changed(event, str(namespace), name, owner_name, body)
    elif kind == "WrappedSecret" and event.get("type") == "DELETED":
        await wrappedsecret.secret_deleted(str(namespace), owner_name, name)
