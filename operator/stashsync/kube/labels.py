"""Labels and annotations the operator puts on what it writes (never values)."""

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "stashsync"
OWNER_ANNOTATION = "stashsync.dev/owner"  # "<Kind>/<name>", same namespace
MANAGED_KEYS_ANNOTATION = "stashsync.dev/managed-keys"  # comma-separated keys we wrote (Merge policy)
