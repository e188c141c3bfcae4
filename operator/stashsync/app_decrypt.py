"""For applications: open the envelopes the operator wrote (spec.encryption.kms) in your own process.

    from stashsync.app_decrypt import decrypt_value
    password = decrypt_value(os.environ["DB_PASSWORD"], namespace="app", secret="app-db", key="DB_PASSWORD")

The pod needs kms:Decrypt on the key with the encryption context {namespace, secret, key}; nothing
else in the cluster holds the plaintext."""

from __future__ import annotations

from collections.abc import Mapping

from stashsync.aws import kms_envelope
from stashsync.aws.clients import AwsAuth, AwsClients, env_region
from stashsync.crypto import envelope
from stashsync.errors import StashError

_clients: AwsClients | None = None


def _default_clients() -> AwsClients:
    global _clients
    if _clients is None:
        _clients = AwsClients(AwsAuth(region=env_region() or "us-east-1"))
    return _clients


def decrypt_value(value: str | bytes, namespace: str, secret: str, key: str,
                  clients: AwsClients | None = None, identities: list[str] | None = None) -> bytes:
    """The plaintext of one envelope, expected to come from `key` of Secret `secret` in `namespace`.
    age envelopes need `identities` (AGE-SECRET-KEY-1... lines); KMS ones need kms:Decrypt."""
    ctx = envelope.context(namespace, secret, key)
    if envelope.is_age(value):
        if not identities:
            raise envelope.EnvelopeError("an age envelope needs an identity (--identity FILE)")
        return envelope.open_age(value, identities, ctx)
    return kms_envelope.decrypt(clients or _default_clients(), value, ctx)


def read_identities(path: str) -> list[str]:
    """age identities from a key file (as `age-keygen` writes it: comments and AGE-SECRET-KEY-1 lines)."""
    with open(path) as f:
        return [line.strip() for line in f if line.strip().startswith("AGE-SECRET-KEY-1")]


def decrypt_environ(environ: Mapping[str, str], namespace: str, secret: str, key_for: Mapping[str, str],
                    rename: Mapping[str, str], clients: AwsClients | None = None,
                    identities: list[str] | None = None) -> dict[str, str]:
    """A copy of `environ` with every envelope replaced by its plaintext. The Secret key of a variable
    is key_for[var] or the variable's own name (as with envFrom); rename moves it to another name."""
    out = dict(environ)
    for name, value in environ.items():
        if not envelope.is_envelope(value):
            continue
        try:
            plaintext = decrypt_value(value, namespace, secret, key_for.get(name, name), clients, identities)
        except StashError as exc:
            raise ValueError(f"{name}: {exc.message}") from None
        target = rename.get(name, name)
        if target != name:
            del out[name]
        out[target] = plaintext.decode()
    return out
