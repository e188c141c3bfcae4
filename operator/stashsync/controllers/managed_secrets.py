"""One watch on the Secrets we manage, handing each change to its owner's controller."""

from __future__ import annotations

from typing import Any

import kopf

from stashsync.controllers import sync_flow, syncedsecret, wrappedsecret
from stashsync.controllers.memo import OperatorMemo
from stashsync.kube.labels import OWNER_ANNOTATION


async def managed_secret_changed(event: kopf.RawEvent, namespace: str | None, name: str, body: kopf.Body,
                                 memo: OperatorMemo, **_: Any) -> None:
    owner = (body.metadata.get("annotations") or {}).get(OWNER_ANNOTATION, "")
    kind, _sep, owner_name = owner.partition("/")
    if not owner_name:
        return
    if kind == sync_flow.KIND:
        syncedsecret.secret_changed(event, str(namespace), name, owner_name, body, memo)
    elif kind == "WrappedSecret" and event.get("type") == "DELETED":
        await wrappedsecret.secret_deleted(memo.api, str(namespace), owner_name, name)
