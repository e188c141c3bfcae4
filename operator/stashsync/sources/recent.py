"""Values just read through one store handle, for the other syncs that want the same credential at
the same version within seconds.

Objects that read one credential arrive together: 10,000 SyncedSecrets over 100 credentials make
their first syncs in the same minutes, and each would read and decrypt the same item (10,000 reads
and KMS Decrypts instead of 100, and most of the operator's CPU). A credential's content at a given
version never changes at the source, so a value read at that version moments ago is the value a new
read would return. It is kept for KEEP_SECONDS and handed only to syncs through the same store handle,
which is built per store, generation and AWS session (a cluster store with a role has a session per
namespace): a sync gets nothing its own read would not have returned. Plaintext lives here only in
the operator's memory and only for those seconds.

Reads made ahead (sources.base.AheadReader) land here too, as the current version of a credential a
waiting first sync will read, with the number of the read that found it (the version index orders
reads by it); and while such a read is in flight, the syncs waiting for it can wait for it instead of
reading the same credential themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from stashsync.sources.base import CredentialRef

KEEP_SECONDS = 10.0  # a few syncs' worth; also the oldest version check a first sync reuses with it
MAX_KEPT = 512  # credentials kept at once per store handle; the oldest go first

Key = tuple[CredentialRef, str]  # (credential, version)


class RecentValues:
    """Plaintext by (credential, version), each for `keep_seconds` after it was read. Used from the
    event loop only."""

    def __init__(self, keep_seconds: float = KEEP_SECONDS, max_kept: int = MAX_KEPT) -> None:
        self.keep_seconds = keep_seconds
        self.max_kept = max_kept
        self._kept: OrderedDict[Key, tuple[float, bytes]] = OrderedDict()  # oldest read first
        # Credential -> (until, its current version, the number of the read ahead that found it).
        self._ahead: OrderedDict[CredentialRef, tuple[float, str, int]] = OrderedDict()
        # Read ahead right now, and for which tenant (namespace): the read waits in its turns.
        self._reading: dict[CredentialRef, tuple[asyncio.Future[None], str]] = {}

    def __len__(self) -> int:
        self._expire(time.monotonic())
        return len(self._kept)

    def get(self, ref: CredentialRef, version: str) -> bytes | None:
        self._expire(time.monotonic())
        kept = self._kept.get((ref, version))
        return kept[1] if kept is not None else None

    def put(self, ref: CredentialRef, version: str, value: bytes) -> None:
        self._kept.pop((ref, version), None)  # re-read: its seconds start again
        self._kept[(ref, version)] = (time.monotonic() + self.keep_seconds, value)
        while len(self._kept) > self.max_kept:
            self._kept.popitem(last=False)

    def put_ahead(self, ref: CredentialRef, version: str, value: bytes, started: int) -> None:
        """A read for another sync found `ref` current at `version` (the read numbered `started`)."""
        self.put(ref, version, value)
        self._ahead.pop(ref, None)
        self._ahead[ref] = (time.monotonic() + self.keep_seconds, version, started)
        while len(self._ahead) > self.max_kept:
            self._ahead.popitem(last=False)

    def read_ahead(self, ref: CredentialRef, max_age: float) -> tuple[str, bytes, int] | None:
        """(version, value, read number) a read ahead found for `ref` at most `max_age` seconds ago."""
        now = time.monotonic()
        self._expire(now)
        found = self._ahead.get(ref)
        if found is None or now - (found[0] - self.keep_seconds) > max_age:
            return None
        value = self.get(ref, found[1])
        return (found[1], value, found[2]) if value is not None else None

    def wanted_ahead(self, ref: CredentialRef) -> bool:
        """Not being read ahead now, nor read ahead moments ago."""
        return ref not in self._reading and self.read_ahead(ref, self.keep_seconds) is None

    def reading(self, refs: Iterable[CredentialRef], tenant: str) -> None:
        """`refs` are being read ahead for `tenant`: syncs wanting them may wait (see `in_flight`)."""
        loop = asyncio.get_running_loop()
        for ref in refs:
            self._reading[ref] = (loop.create_future(), tenant)

    def done_reading(self, refs: Iterable[CredentialRef]) -> None:
        for ref in refs:
            found = self._reading.pop(ref, None)
            if found is not None and not found[0].done():
                found[0].set_result(None)

    def in_flight(self, refs: Iterable[CredentialRef], tenant: str) -> tuple[list[asyncio.Future[None]], bool] | None:
        """The reads ahead of every one of `refs`, when all of them are being read ahead now, and whether
        any of them is read for another tenant than `tenant` (and so waits in that tenant's turns)."""
        found = [self._reading.get(ref) for ref in refs]
        if not all(f is not None for f in found):
            return None
        reads = [f for f in found if f is not None]
        return [future for future, _ in reads], any(owner != tenant for _, owner in reads)

    def _expire(self, now: float) -> None:
        _drop_until(self._kept, now)
        _drop_until(self._ahead, now)


def _drop_until(kept: OrderedDict[Any, tuple[Any, ...]], now: float) -> None:
    """Drop the entries (each starting with its expiry time, oldest first) expired by `now`."""
    while kept:
        key, first = next(iter(kept.items()))
        if first[0] > now:
            return
        del kept[key]
