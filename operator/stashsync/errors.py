"""The one exception type of the operator: a reason (declared in reasons.py, with its retry policy)
and a message a person can act on. It becomes a Ready=False condition and a Warning event as it is;
so a message is built from what we know, never from a library's text that may carry a value."""

from __future__ import annotations

from stashsync.reasons import Retry, retry_of


class StashError(Exception):
    reason = "InvalidSpec"  # subclasses name their own; an instance may override it

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason

    @property
    def retry(self) -> Retry:
        return retry_of(self.reason)


class SpecError(StashError):
    """Schema-valid but unusable spec (the webhook refuses it; a controller reports it)."""


# What a source (AWS) may answer; each class names its reason.

class SourceError(StashError):
    """AWS answered with an error none of the classes below describes."""

    reason = "SourceError"


class CredentialNotFound(SourceError):
    reason = "CredentialNotFound"


class ContextMismatch(SourceError):
    reason = "ContextMismatch"


class IntegrityError(SourceError):
    reason = "IntegrityError"


class AccessDenied(SourceError):
    reason = "AccessDenied"


class Throttled(SourceError):
    reason = "Throttled"


class TooLarge(SourceError):
    reason = "TooLarge"


class StoreNotReady(SourceError):
    reason = "StoreNotReady"


class Unavailable(SourceError):
    reason = "Unavailable"


class InvalidReference(SourceError):
    """The spec asks this backend for something it cannot express (e.g. a non-numeric credstash version)."""

    reason = "InvalidSpec"


class StoreNotAllowed(SourceError):
    reason = "StoreNotAllowed"
