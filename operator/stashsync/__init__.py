"""stashsync: sync credentials kept in AWS into Kubernetes Secrets."""

__version__ = "0.1.0"
