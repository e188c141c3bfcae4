"""Import every handler module so kopf registers them."""

from stashsync.controllers import managed_secrets, runtime, stores, syncedsecret, wrappedsecret

__all__ = ["managed_secrets", "runtime", "stores", "syncedsecret", "wrappedsecret"]
