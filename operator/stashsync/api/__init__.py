"""Typed views of the stashsync custom resources (group stashsync.dev, version v1alpha1)."""

GROUP = "stashsync.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
