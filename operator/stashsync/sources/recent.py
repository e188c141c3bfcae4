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
"""

from __future__ import annotations

import time
from collections import OrderedDict

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

    def _expire(self, now: float) -> None:
        while self._kept:
            key, (until, _) = next(iter(self._kept.items()))
            if until > now:
                return
            del self._kept[key]
