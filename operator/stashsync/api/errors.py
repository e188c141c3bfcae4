from __future__ import annotations


class SpecError(Exception):
    """Schema-valid but unusable spec. `reason` becomes the Ready=False reason."""

    def __init__(self, message: str, reason: str = "InvalidSpec") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
