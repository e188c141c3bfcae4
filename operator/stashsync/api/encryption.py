"""spec.encryption, shared by SyncedSecret and WrappedSecret."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stashsync.api.durations import parse_duration
from stashsync.errors import SpecError

AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")  # bech32, as age writes them


@dataclass(frozen=True)
class EncryptionSpec:
    kms_key_id: str | None = None
    recipients: tuple[str, ...] = ()
    rotate_seconds: float = 0.0  # re-encrypt with fresh data keys this often (0: only on change)


def parse_encryption(spec: dict[str, Any]) -> EncryptionSpec | None:
    raw = spec.get("encryption")
    if not raw:
        return None
    recipients = tuple([raw["recipient"]] if raw.get("recipient") else []) + tuple(raw.get("recipients") or [])
    kms_key = (raw.get("kms") or {}).get("keyId")
    if bool(kms_key) == bool(recipients):
        raise SpecError("encryption needs exactly one of kms.keyId and recipient(s)")
    bad = [r for r in recipients if not AGE_RECIPIENT.match(r)]
    if bad:
        raise SpecError(f"encryption: {len(bad)} recipient(s) are not age X25519 public keys (age1...)")
    rotate = parse_duration(raw.get("rotateEvery", "0"), "encryption.rotateEvery")
    return EncryptionSpec(kms_key_id=kms_key, recipients=recipients, rotate_seconds=rotate)
