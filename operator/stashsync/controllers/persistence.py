"""Where kopf keeps its own per-object state: our annotation prefix, and no diff base for kinds
whose handlers never compare an old spec with a new one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import kopf

from stashsync.api import GROUP

# SyncedSecrets have only a daemon, an event handler and a deletion handler: the refresh loop
# compares metadata.generation with status.observedGeneration itself. Storing kopf's diff base
# on them would cost one PATCH and one more watch event per object for nothing.
WITHOUT_DIFF_BASE = frozenset({"SyncedSecret"})


class SelectiveDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's annotation diff base, kept only for kinds outside `skipped_kinds`."""

    def __init__(self, *, skipped_kinds: Iterable[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.skipped_kinds = frozenset(skipped_kinds)

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        if body.get("kind") in self.skipped_kinds:
            return None
        return super().fetch(body=body)

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        if body.get("kind") not in self.skipped_kinds:
            super().store(body=body, patch=patch, essence=essence)


def configure(settings: kopf.OperatorSettings) -> None:
    # Handler state goes to annotations with our prefix, so status stays ours and readable.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = SelectiveDiffBaseStorage(
        skipped_kinds=WITHOUT_DIFF_BASE, prefix=GROUP, key="last-handled-configuration",
        ignored_fields=["spec.token"])  # a WrappedSecret's inline token never goes into an annotation
    settings.persistence.finalizer = f"{GROUP}/finalizer"
