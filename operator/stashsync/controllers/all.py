"""Import every handler module so kopf registers them."""

from stashsync.controllers import runtime, stores, syncedsecret

__all__ = ["runtime", "stores", "syncedsecret"]
