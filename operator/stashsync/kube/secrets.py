"""Build and write the target Secret under the creation and deletion policies.

Every write is one API call carrying the whole new state (with the resourceVersion we read as a
precondition), so a Secret is never left half-written.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client

from stashsync.api.reserved import RESERVED_TYPES, check_target
from stashsync.errors import StashError
from stashsync.kube.client import is_status, send
from stashsync.kube.labels import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MANAGED_KEYS_ANNOTATION,
    OWNER_ANNOTATION,
    OWNER_UID_ANNOTATION,
)


@dataclass(frozen=True)
class Owner:
    api_version: str
    kind: str
    name: str
    uid: str

    @classmethod
    def of(cls, body: dict[str, Any]) -> Owner:
        """The owner reference for one of our custom resources."""
        meta = body["metadata"]
        return cls(api_version=body["apiVersion"], kind=body["kind"], name=meta["name"], uid=meta["uid"])

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    def reference(self) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "uid": self.uid,
                "controller": True, "blockOwnerDeletion": True}


@dataclass(frozen=True)
class DesiredSecret:
    namespace: str
    name: str
    type: str
    data: dict[str, bytes]
    labels: dict[str, str]
    annotations: dict[str, str]
    immutable: bool = False


def encode(data: dict[str, bytes]) -> dict[str, str]:
    return {k: base64.b64encode(v).decode() for k, v in sorted(data.items())}


def decode(data: dict[str, str] | None) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (data or {}).items()}




def annotations_of(secret: dict[str, Any]) -> dict[str, str]:
    return dict(secret.get("metadata", {}).get("annotations") or {})


def _marked_by(secret: dict[str, Any], owner: Owner) -> bool:
    """The Secret carries `owner`'s uid (or, written before uids were recorded, its Kind/name only)."""
    annotations = annotations_of(secret)
    if OWNER_UID_ANNOTATION in annotations:
        return annotations[OWNER_UID_ANNOTATION] == owner.uid
    return annotations.get(OWNER_ANNOTATION) == owner.ref


def created_by(secret: dict[str, Any], owner: Owner) -> bool:
    """`owner` made this Secret (Owner or Orphan policy): it is ours to replace or delete. A Secret we
    only merged keys into is not."""
    return MANAGED_KEYS_ANNOTATION not in annotations_of(secret) and _marked_by(secret, owner)


def merged_by(secret: dict[str, Any], owner: Owner) -> bool:
    """`owner` merged keys into this Secret (Merge policy): only those keys are ours."""
    return MANAGED_KEYS_ANNOTATION in annotations_of(secret) and _marked_by(secret, owner)


def merge_refusal(secret: dict[str, Any], owner: Owner) -> str | None:
    """Why `owner` may not merge keys into this Secret, or None if it may."""
    annotations = annotations_of(secret)
    name = secret.get("metadata", {}).get("name", "")
    if secret.get("type", "Opaque") in RESERVED_TYPES:
        return f"Secret {name!r} is of type {secret['type']}, which stashsync never writes into"
    if OWNER_ANNOTATION in annotations or OWNER_UID_ANNOTATION in annotations:
        if not _marked_by(secret, owner):
            return (f"Secret {name!r} is managed by {annotations.get(OWNER_ANNOTATION, 'another stashsync object')}; "
                    "one stashsync object manages a Secret")
    elif (secret.get("metadata", {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY:
        return f"Secret {name!r} belongs to the stashsync operator itself"
    return None


def build_owned(desired: DesiredSecret, owner: Owner, with_owner_reference: bool) -> dict[str, Any]:
    """The whole Secret we want when we own it (Owner and Orphan policies)."""
    meta: dict[str, Any] = {
        "name": desired.name, "namespace": desired.namespace,
        "labels": {**desired.labels, MANAGED_BY_LABEL: MANAGED_BY},
        "annotations": {**desired.annotations, OWNER_ANNOTATION: owner.ref, OWNER_UID_ANNOTATION: owner.uid},
    }
    if with_owner_reference:
        meta["ownerReferences"] = [owner.reference()]
    secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": desired.type,
              "data": encode(desired.data)}
    if desired.immutable:
        secret["immutable"] = True
    return secret


def build_merged(existing: dict[str, Any], desired: DesiredSecret, owner: Owner) -> dict[str, Any]:
    """Someone else's Secret with our keys merged in (Merge policy); their keys stay as they are."""
    meta = dict(existing["metadata"])
    previous = set(filter(None, (meta.get("annotations") or {}).get(MANAGED_KEYS_ANNOTATION, "").split(",")))
    data = {k: v for k, v in (existing.get("data") or {}).items() if k not in previous}
    data.update(encode(desired.data))
    meta["labels"] = {**(meta.get("labels") or {}), **desired.labels}
    meta["annotations"] = {**(meta.get("annotations") or {}), **desired.annotations,
                           MANAGED_KEYS_ANNOTATION: ",".join(sorted(desired.data)), OWNER_ANNOTATION: owner.ref,
                           OWNER_UID_ANNOTATION: owner.uid}
    return {**existing, "metadata": meta, "data": data}


def same_content(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """True when writing `wanted` would change nothing we care about (extra labels of others are fine)."""
    em, wm = existing.get("metadata", {}), wanted.get("metadata", {})
    owner_refs_match = "ownerReferences" not in wm or em.get("ownerReferences") == wm["ownerReferences"]
    return bool((existing.get("data") or {}) == (wanted.get("data") or {})
                and existing.get("type", "Opaque") == wanted.get("type", "Opaque")
                and bool(existing.get("immutable")) == bool(wanted.get("immutable"))
                and _contains(em.get("labels") or {}, wm.get("labels") or {})
                and _contains(em.get("annotations") or {}, wm.get("annotations") or {})
                and owner_refs_match)


def _contains(have: dict[str, str], want: dict[str, str]) -> bool:
    return all(have.get(k) == v for k, v in want.items())


UNREAD: Any = object()


MERGE_HINT = "delete it, pick another target.name, or use target.creationPolicy Merge to add keys to it"
RENAME_HINT = "delete it or pick another target.name"


def check_replaceable(existing: dict[str, Any] | None, name: str, owner: Owner, hint: str = MERGE_HINT) -> None:
    """Raise SecretConflict unless `owner` may replace Secret `name` (absent, or created by it)."""
    if existing is not None and not created_by(existing, owner):
        raise StashError(f"Secret {name!r} already exists and was not created by {owner.ref}; {hint}",
                          reason="SecretConflict")




def _path(namespace: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{namespace}/secrets" + (f"/{name}" if name else "")


async def _create(api: client.ApiClient, namespace: str, secret: dict[str, Any]) -> None:
    await send(api, "POST", _path(namespace), secret)


async def _replace(api: client.ApiClient, namespace: str, name: str, secret: dict[str, Any]) -> None:
    await send(api, "PUT", _path(namespace, name), secret)


async def _replace_if_present(api: client.ApiClient, secret: dict[str, Any]) -> None:
    try:
        await _replace(api, secret["metadata"]["namespace"], secret["metadata"]["name"], secret)
    except client.ApiException as exc:
        if not is_status(exc, 404):
            raise


class Secrets:
    """The Secret calls the flows make, through the operator's API client. Unit tests of the flows
    replace it with a fake holding Secrets in a dict (tests/unit/fakes.py)."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api

    async def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            secret = await client.CoreV1Api(self.api).read_namespaced_secret(name, namespace)
        except client.ApiException as exc:
            if is_status(exc, 404):
                return None
            raise
        body: dict[str, Any] = self.api.sanitize_for_serialization(secret)
        return body

    async def write(self, desired: DesiredSecret, owner: Owner, creation_policy: str,
                    existing: Any = UNREAD, hint: str = MERGE_HINT) -> bool:
        """Create or update the target Secret. Returns True when something was written. `existing` is
        the Secret as the caller just read it (None: absent), saving a read; the write is preconditioned
        on its resourceVersion (or fails as already existing), so a stale copy cannot clobber a change.
        UNREAD expects a new Secret: creating it is tried first, and it is read only if it exists.
        `hint`: what the owner's kind lets a user do about a conflict (a WrappedSecret has no Merge)."""
        core = client.CoreV1Api(self.api)
        # Whatever the caller parsed: nothing reserved is written (api/reserved.py).
        check_target(desired.type, desired.labels, desired.annotations, "target", with_our_marks=True)
        owned = None if creation_policy == "Merge" else build_owned(
            desired, owner, with_owner_reference=creation_policy == "Owner")
        if existing is UNREAD and owned is not None:
            try:
                await _create(self.api, desired.namespace, owned)
                return True
            except client.ApiException as exc:
                if not is_status(exc, 409):
                    raise
        if existing is UNREAD:
            existing = await self.read(desired.namespace, desired.name)
        if owned is None:
            if existing is None:
                raise StashError(f"Secret {desired.name!r} does not exist; creationPolicy Merge only adds keys "
                                  "to an existing Secret", reason="TargetMissing")
            refusal = merge_refusal(existing, owner)
            if refusal is not None:
                raise StashError(f"{refusal}; pick another target.name", reason="SecretConflict")
            if existing.get("immutable"):
                # Its keys could change only by deleting and creating it again, as someone else's Secret.
                raise StashError(f"Secret {desired.name!r} is immutable and was not created by {owner.ref}; "
                                 "stashsync replaces only immutable Secrets it created", reason="SecretConflict")
            wanted = build_merged(existing, desired, owner)
        else:
            wanted = owned
            check_replaceable(existing, desired.name, owner, hint)
        if existing is None:
            await _create(self.api, desired.namespace, wanted)
            return True
        if same_content(existing, wanted):
            return False
        if existing.get("type", "Opaque") != wanted.get("type", "Opaque") or existing.get("immutable"):
            # A Secret's type cannot change, nor anything of an immutable Secret: replace it,
            # preconditioned on the version we read.
            await core.delete_namespaced_secret(desired.name, desired.namespace, body=client.V1DeleteOptions(
                preconditions=client.V1Preconditions(resource_version=existing["metadata"]["resourceVersion"])))
            wanted["metadata"].pop("resourceVersion", None)
            await _create(self.api, desired.namespace, wanted)
            return True
        wanted["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
        await _replace(self.api, desired.namespace, desired.name, wanted)
        return True

    async def release(self, namespace: str, name: str, owner: Owner,
                      deletion_policy: str = "Delete") -> None:
        """What happens to the target when its owner goes (the operator does it itself: a bare apiserver,
        and some clusters, have no garbage collector acting on owner references). What is done follows what
        the Secret proves, not the owner's spec, which may be invalid or changed on purpose: keys we merged
        are removed (Delete) and the rest is left; a Secret we created with an owner reference is deleted
        (Delete); anything else is kept, without our marks."""
        core = client.CoreV1Api(self.api)
        existing = await self.read(namespace, name)
        if existing is None:
            return
        meta = existing["metadata"]
        ours = (OWNER_ANNOTATION, OWNER_UID_ANNOTATION, MANAGED_KEYS_ANNOTATION)
        if merged_by(existing, owner):
            if deletion_policy == "Delete":
                keys = set(filter(None, (meta.get("annotations") or {}).get(MANAGED_KEYS_ANNOTATION, "").split(",")))
                existing["data"] = {k: v for k, v in (existing.get("data") or {}).items() if k not in keys}
            meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in ours}
            await _replace_if_present(self.api, existing)
            return
        if not created_by(existing, owner):
            return
        with_reference = any(r.get("uid") == owner.uid for r in meta.get("ownerReferences") or [])
        if with_reference and deletion_policy == "Delete":
            try:
                await core.delete_namespaced_secret(name, namespace, body=client.V1DeleteOptions(
                    preconditions=client.V1Preconditions(uid=meta["uid"])))
            except client.ApiException as exc:
                if not is_status(exc, 404, 409):  # gone, or replaced by someone else meanwhile
                    raise
            return
        # Retain (or Orphan): keep the Secret, but drop our owner reference so no GC deletes it later.
        meta["ownerReferences"] = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != owner.uid]
        meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in ours}
        await _replace_if_present(self.api, existing)
