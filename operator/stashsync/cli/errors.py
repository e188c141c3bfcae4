from __future__ import annotations

from stashsync.errors import StashError


class CliError(StashError):
    """A mistake the user can fix; printed as one line, exit status 1 (as every StashError is)."""
