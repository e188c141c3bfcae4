"""Every reason the operator puts in a Ready condition or an Event, declared once with what it
means and whether retrying can help. README.md's reasons table is rendered from this list
(`make docs`; a unit test checks it is current)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Retry(StrEnum):
    """How a failure is retried. A SyncedSecret's loop polls; a WrappedSecret's token never changes."""

    BACKOFF = "backoff"  # transient (AWS, Kubernetes, a store not ready yet): again soon, backing off
    SLOW = "slow"  # something outside the object must change (a store's conditions, another owner's Secret)
    ON_CHANGE = "on change"  # the spec or the credential must change: a token's never does, so that is final there
    NEVER = "never"  # final: retrying cannot change it
    NONE = ""  # success


@dataclass(frozen=True)
class Reason:
    name: str
    objects: str  # which objects show it: S SyncedSecret, W WrappedSecret, C stores, K ClusterSyncedSecret
    retry: Retry
    when: str


_ALL = [
    Reason("Synced", "S", Retry.NONE, "the Secret holds the current versions"),
    Reason("Unwrapped", "W", Retry.NONE, "the token's value is in the Secret (consumed once, for good)"),
    Reason("Valid", "C", Retry.NONE, "the store is reachable with its credentials"),
    Reason("Provisioned", "K", Retry.NONE, "every selected namespace has the SyncedSecret, and each is Ready"),
    Reason("Provisioning", "K", Retry.NONE, "its SyncedSecrets are made; some have not synced yet (Ready=False, "
           "no Warning)"),
    Reason("NamespacesFailed", "K", Retry.BACKOFF,
           "some selected namespaces have no SyncedSecret or one that is not Ready; `status.failedNamespaces` "
           "names each with its own reason"),
    Reason("SyncedSecretConflict", "K", Retry.SLOW,
           "(per namespace) a SyncedSecret of that name exists there and is not this ClusterSyncedSecret's"),
    Reason("FeedReading", "C", Retry.NONE, "(condition FeedReady) the store's changeFeed is read: changes wake "
           "their SyncedSecrets at once"),
    Reason("FeedBroken", "C", Retry.BACKOFF, "(condition FeedReady) the changeFeed cannot be read (no stream, no "
           "permission, no queue): objects poll at their own refreshInterval; tried again every 30 s"),
    Reason("InvalidSpec", "SWCK", Retry.ON_CHANGE, "the spec cannot be used; the message says which field and why"),
    Reason("InvalidAuth", "C", Retry.ON_CHANGE, "the store's auth names a Secret or account it may not use"),
    Reason("OperatorIdentityNotAllowed", "C", Retry.ON_CHANGE,
           "a namespaced store would use the operator's own AWS identity or an unlisted role"),
    Reason("EndpointNotAllowed", "C", Retry.ON_CHANGE, "the store's endpoint is not in the admin's allowed list"),
    Reason("AudienceNotAllowed", "C", Retry.ON_CHANGE, "a service-account token audience the admin does not allow"),
    Reason("FeedNotAllowed", "C", Retry.ON_CHANGE, "(condition FeedReady) a namespaced store's changeFeed queue is "
           "not in the admin's allowed list (reading a queue consumes its messages): objects poll"),
    Reason("StoreNotReady", "SWK", Retry.BACKOFF, "the store is missing, invalid, not ready, or in another namespace"),
    Reason("StoreNotAllowed", "SWK", Retry.SLOW, "a cluster store whose `conditions` do not admit this namespace"),
    Reason("CredentialNotFound", "S", Retry.BACKOFF, "no such credential or version"),
    Reason("ContextMismatch", "S", Retry.BACKOFF, "KMS refused the data key: wrong encryption context (or key)"),
    Reason("IntegrityError", "SW", Retry.ON_CHANGE,
           "HMAC / GCM tag mismatch: tampered or corrupt item; the Secret keeps its last good value"),
    Reason("PropertyNotFound", "S", Retry.BACKOFF,
           "`property` names a field the JSON value does not have (or the value is not JSON)"),
    Reason("KeyCollision", "S", Retry.SLOW, "two credentials found by `dataFrom` become the same Secret key"),
    Reason("TemplateError", "S", Retry.SLOW, "the template cannot be rendered (key, line and error class only)"),
    Reason("TemplateNotFound", "S", Retry.SLOW, "a `templateFrom` ConfigMap or Secret, or its key, is missing (or "
           "not text); creating or editing it syncs at once"),
    Reason("TooLarge", "SW", Retry.ON_CHANGE, "over 1 MiB"),
    Reason("AccessDenied", "SWC", Retry.BACKOFF, "AWS said no (or a store's auth Secret is missing)"),
    Reason("Throttled", "SWC", Retry.BACKOFF, "AWS said slow down"),
    Reason("Unavailable", "SWC", Retry.BACKOFF, "AWS could not be reached"),
    Reason("SourceError", "SWC", Retry.BACKOFF,
           "AWS answered with another error (its code only), or a WrappedSecret's token Secret is missing"),
    Reason("GenerationNotAllowed", "S", Retry.BACKOFF, "`generate` on a store without `credstash.allowGenerate`"),
    Reason("CredentialNotGenerated", "S", Retry.BACKOFF,
           "`generate` names a credential that exists and was not generated by this SyncedSecret"),
    Reason("VersionExists", "S", Retry.BACKOFF, "a credstash version was written by someone else first"),
    Reason("SecretConflict", "SW", Retry.SLOW,
           "the target Secret exists and belongs to someone else (use `creationPolicy: Merge`)"),
    Reason("TargetMissing", "S", Retry.BACKOFF, "`Merge` but the Secret does not exist"),
    Reason("SecretTypeNotAllowed", "SW", Retry.ON_CHANGE,
           "the target asks for a Secret type, label or annotation that Kubernetes, Helm or stashsync itself "
           "acts on (service-account and bootstrap tokens, Helm release records, `owner=helm`, "
           "`kubernetes.io/service-account.*`, `meta.helm.sh/*`, `helm.sh/*`, `stashsync.dev/*`, "
           "`app.kubernetes.io/managed-by`)"),
    Reason("KubernetesError", "SWCK", Retry.BACKOFF,
           "the API server refused a write (status code and reason only)"),
    Reason("NotFound", "W", Retry.NEVER, "no wrapped secret for this token: never issued, expired and pruned, "
           "or unwrapped by another tool"),
    Reason("Expired", "W", Retry.NEVER, "the token's TTL ran out before it was claimed"),
    Reason("AlreadyConsumed", "W", Retry.NEVER, "another WrappedSecret (or tool) unwrapped this token"),
    Reason("SecretLost", "W", Retry.NEVER, "the Secret holding the unwrapped value was deleted; the token was "
           "single-use: wrap a new one"),
]

REASONS: dict[str, Reason] = {r.name: r for r in _ALL}

# Events that are not conditions.
ROLLOUT_RESTARTED = "RolloutRestarted"
RESTART_NOT_ALLOWED = "RestartNotAllowed"  # Warning: a rolloutRestartTargets workload the Secret does not concern


def retry_of(reason: str) -> Retry:
    """How a failure with `reason` is retried; an undeclared reason is treated as transient."""
    found = REASONS.get(reason)
    return found.retry if found is not None else Retry.BACKOFF


def markdown_table() -> str:
    """The README's reasons table."""
    kinds = {"S": "SyncedSecret", "W": "WrappedSecret", "C": "stores", "K": "ClusterSyncedSecret"}
    lines = ["| Ready reason | on | retried | when |", "|---|---|---|---|"]
    for r in _ALL:
        on = ", ".join(kinds[k] for k in r.objects)
        lines.append(f"| `{r.name}` | {on} | {r.retry.value or '-'} | {r.when} |")
    return "\n".join(lines) + "\n"
