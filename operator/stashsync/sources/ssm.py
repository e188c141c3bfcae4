"""SSM Parameter Store.

A refresh asks GetParameters for up to 10 names per call without decryption (the version comes
back, SecureStrings stay encrypted: no KMS); values are read only on change, 10 per call with
decryption, by `name:version` so the value read is the version checked. `version` pins a version
number or a label. Names not starting with '/' are relative to the store's path."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from stashsync import errors
from stashsync.api import patterns
from stashsync.aws.clients import AwsClients, translate_errors
from stashsync.kube import limits
from stashsync.sources import base

_NAMES_PER_CALL = 10


def _distinct_name_chunks(selectors: Sequence[str]) -> Iterator[list[str]]:
    pending = list(selectors)
    while pending:
        chunk: list[str] = []
        seen: set[str] = set()
        for selector in list(pending):
            name = selector.rpartition(":")[0] if ":" in selector else selector
            if name not in seen and len(chunk) < _NAMES_PER_CALL:
                chunk.append(selector)
                seen.add(name)
                pending.remove(selector)
        yield chunk


class ParameterStoreSource:
    def __init__(self, clients: AwsClients, path: str | None = None) -> None:
        self.clients = clients
        self.path = path.rstrip("/") if path else None

    @property
    def _ssm(self) -> Any:
        return self.clients.client("ssm")

    def full_name(self, name: str) -> str:
        if name.startswith("/") or self.path is None:
            return name
        return f"{self.path}/{name}"

    def feed_name(self, name: str) -> str:
        return self.full_name(name)  # Parameter Store Change events carry the full name

    def name_in_feed(self, key: str) -> str | None:
        if not self.path:
            return key
        return key[len(self.path) + 1:] if key.startswith(self.path + "/") else None

    def validate(self) -> None:
        with translate_errors("Parameter Store", not_found=errors.StoreNotReady):
            self._ssm.describe_parameters(MaxResults=1)

    def _get(self, selectors: Sequence[str], decrypt: bool) -> dict[str, dict[str, Any]]:
        """selector -> parameter, 10 selectors per GetParameters call; missing ones are left out.
        A response names the parameter but not always the selector, so no call asks for one name twice."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _distinct_name_chunks(sorted(set(selectors))):
            with translate_errors(f"{len(chunk)} parameters"):
                response = self._ssm.get_parameters(Names=chunk, WithDecryption=decrypt)
            by_name = {p["Name"]: p for p in response.get("Parameters", [])}
            for selector in chunk:
                name, _, pin = selector.rpartition(":") if ":" in selector else (selector, "", "")
                parameter = by_name.get(name)
                if parameter is not None and not (pin.isdigit() and str(parameter["Version"]) != pin):
                    found[selector] = parameter
        return found

    def _selector(self, ref: base.CredentialRef) -> str:
        return f"{self.full_name(ref.name)}:{ref.version}" if ref.version else self.full_name(ref.name)

    def current_version(self, ref: base.CredentialRef) -> str:
        return self.current_versions([ref])[0]

    def _parameters(self, refs: Sequence[base.CredentialRef], decrypt: bool) -> list[dict[str, Any]]:
        """The parameter each ref names (latest, or at its pinned version or label), in order."""
        found = self._get([self._selector(r) for r in refs], decrypt=decrypt)
        parameters = []
        for ref in refs:
            parameter = found.get(self._selector(ref))
            if parameter is None:
                pinned = f" at {ref.version}" if ref.version else ""
                raise errors.CredentialNotFound(f"parameter {self.full_name(ref.name)!r}{pinned} not found")
            parameters.append(parameter)
        return parameters

    def current_versions(self, refs: Sequence[base.CredentialRef]) -> list[str]:
        return [str(p["Version"]) for p in self._parameters(refs, decrypt=False)]

    def fetch(self, ref: base.CredentialRef, version: str) -> bytes:
        return self.fetch_many([(ref, version)])[0]

    def fetch_many(self, wanted: Sequence[tuple[base.CredentialRef, str]]) -> list[bytes]:
        selectors = [f"{self.full_name(ref.name)}:{version}" for ref, version in wanted]
        found = self._get(selectors, decrypt=True)
        values = []
        for (ref, version), selector in zip(wanted, selectors, strict=True):
            parameter = found.get(selector)
            if parameter is None:
                raise errors.CredentialNotFound(f"parameter {self.full_name(ref.name)!r} version {version} not found")
            values.append(limits.check_fits(ref.name, str(parameter["Value"]).encode()))
        return values

    def read_current(self, refs: Sequence[base.CredentialRef]) -> list[tuple[str, bytes]]:
        """GetParameters with decryption, 10 a call: each answer carries its version."""
        return [(str(p["Version"]), limits.check_fits(ref.name, str(p["Value"]).encode()))
                for ref, p in zip(refs, self._parameters(refs, decrypt=True), strict=True)]

    def find(self, pattern: str, tags: dict[str, str]) -> dict[str, str | None]:
        """GetParametersByPath under the store's path (recursive, 10 a page, not decrypted): names,
        relative to the path, with their versions."""
        base.no_tags(tags, "a Parameter Store store")
        root = self.path or "/"
        found: dict[str, str] = {}
        with translate_errors(f"parameters under {root!r}", not_found=errors.StoreNotReady):
            for page in self._ssm.get_paginator("get_parameters_by_path").paginate(
                    Path=root, Recursive=True, WithDecryption=False):
                for parameter in page.get("Parameters", []):
                    name = parameter["Name"]
                    relative = name[len(self.path) + 1:] if self.path else name
                    found[relative] = str(parameter["Version"])
        return {name: found[name] for name in patterns.matching(list(found), pattern)}
