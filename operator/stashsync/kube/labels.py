"""Labels and annotations the operator puts on what it writes (never values)."""

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "stashsync"
OWNER_ANNOTATION = "stashsync.dev/owner"  # "<Kind>/<name>", same namespace (for people and the Secret watch)
OWNER_UID_ANNOTATION = "stashsync.dev/owner-uid"  # the owner's uid: what proves ownership
MANAGED_KEYS_ANNOTATION = "stashsync.dev/managed-keys"  # comma-separated keys we wrote (Merge policy)
# On a SyncedSecret, set by its user (or `stashsync refresh`): any new value syncs it now, values read anew.
FORCE_SYNC_ANNOTATION = "stashsync.dev/force-sync"
