"""Generated credentials: the operator makes a random value, stores it as a new credstash version
(conditional put: never overwrites), rotates it every rotateEvery, and prunes to `keep` versions."""

from __future__ import annotations

from typing import Any

from stashsync.api import conditions as cond
from stashsync.api.syncedsecret import SyncedSecretSpec
from stashsync.crypto.passwords import generate
from stashsync.sources import base
from stashsync.sources.credstash import CredstashSource, VersionExists


def _rotate(source: CredstashSource, name: str, value: bytes, context: dict[str, str], keep: int) -> None:
    """Put the next version (a racing writer wins harmlessly: its version is as new), then prune."""
    try:
        source.put(name, value, source.next_version(name), context)
    except VersionExists:
        return
    for old in source.versions(name)[keep:]:
        source.delete_version(name, old)


async def ensure_generated(spec: SyncedSecretSpec, source: base.Source, status: dict[str, Any]) -> dict[str, str]:
    """Create or rotate what is due; returns the new generatedAt map for the status."""
    entries = [d for d in spec.data if d.generate is not None]
    generated_at: dict[str, str] = dict(status.get("generatedAt") or {})
    if not entries:
        return generated_at
    if not isinstance(source, CredstashSource):
        raise base.StoreNotReady("generated credentials need a credstash store")
    for entry in entries:
        assert entry.generate is not None
        g = entry.generate
        ref = base.CredentialRef(name=entry.name, context=entry.context)
        try:
            await source.clients.run(source.current_version, ref)
        except base.CredentialNotFound:
            await source.clients.run(_rotate, source, entry.name, generate(g.length, g.charset), entry.context,
                                     g.keep)
            generated_at[entry.key] = cond.now()
            continue
        since = cond.seconds_since(generated_at.get(entry.key))
        if since is None:
            generated_at[entry.key] = cond.now()  # existing before we managed it: its clock starts now
        elif g.rotate_seconds > 0 and since >= g.rotate_seconds:
            await source.clients.run(_rotate, source, entry.name, generate(g.length, g.charset), entry.context,
                                     g.keep)
            generated_at[entry.key] = cond.now()
    return generated_at


def next_rotation_seconds(spec: SyncedSecretSpec) -> float:
    """The shortest generate.rotateEvery, so the refresh loop wakes in time (0: none)."""
    periods = [d.generate.rotate_seconds for d in spec.data if d.generate and d.generate.rotate_seconds > 0]
    return min(periods, default=0.0)
