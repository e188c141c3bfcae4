"""Import every handler module so kopf registers them."""

from stashsync.controllers import admission, managed_secrets, runtime, stores, syncedsecret, wrappedsecret

__all__ = ["admission", "managed_secrets", "runtime", "stores", "syncedsecret", "wrappedsecret"]
