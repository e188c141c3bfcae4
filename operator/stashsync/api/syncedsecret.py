"""SyncedSecret: which credentials become which Secret, and how it is kept in sync."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from stashsync.api import target_name
from stashsync.api.durations import parse_duration
from stashsync.api.encryption import EncryptionSpec, parse_encryption
from stashsync.api.patterns import check_length
from stashsync.api.reserved import check_target
from stashsync.api.selectors import valid_labels
from stashsync.api.stores import parse_store_ref
from stashsync.crypto.passwords import CHARSETS
from stashsync.errors import SpecError

SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
OBJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# Every template of one object together (inline and templateFrom), checked before anything parses
# one: a template is a tenant's text, and parsing costs memory in proportion to it.
MAX_TEMPLATE_BYTES = 128 * 1024
DEFAULT_REFRESH = "1h"
# As External Secrets Operator defines them: Periodic refreshes every refreshInterval; OnChange syncs
# when the spec changes; CreatedOnce syncs once per object. All three restore an edited or deleted
# Secret, and a stashsync.dev/force-sync annotation syncs any of them.
REFRESH_POLICIES = ("Periodic", "OnChange", "CreatedOnce")


@dataclass(frozen=True)
class Generate:
    length: int = 32
    charset: str = "alphanumeric"
    rotate_seconds: float = 0.0  # 0: generate once, never rotate
    keep: int = 3  # versions kept after a rotation


@dataclass(frozen=True)
class DataEntry:
    key: str
    name: str
    version: str | None
    context: dict[str, str]
    generate: Generate | None = None
    property: str | None = None  # one field of a JSON value (sources.properties)


@dataclass(frozen=True)
class FindEntry:
    pattern: str
    context: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)  # Secrets Manager tags every found secret carries


@dataclass(frozen=True)
class TemplateSource:
    """A template kept in a ConfigMap or Secret key of the SyncedSecret's namespace (watched: an
    edit re-renders), rendered into Secret key `output`."""

    kind: str  # ConfigMap or Secret
    name: str
    key: str
    output: str

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Target:
    name: str
    type: str = "Opaque"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    template: dict[str, str] | None = None  # output key -> template text, written in the spec
    merge_template: bool = False  # keep the source keys beside the rendered ones
    template_from: tuple[TemplateSource, ...] = ()  # output keys whose template is kept elsewhere
    creation_policy: str = "Owner"
    deletion_policy: str = "Delete"
    immutable: bool = False  # an immutable Secret, replaced (deleted and created) when its content changes

    @property
    def templated(self) -> bool:
        return self.template is not None or bool(self.template_from)

    @property
    def template_keys(self) -> set[str]:
        return set(self.template or {}) | {s.output for s in self.template_from}


@dataclass(frozen=True)
class RestartTarget:
    kind: str  # Deployment, StatefulSet, DaemonSet or (Argo Rollouts) Rollout
    name: str | None
    match_labels: dict[str, str] | None


@dataclass(frozen=True)
class SyncedSecretSpec:
    store_kind: str
    store_name: str
    target: Target
    data: tuple[DataEntry, ...]
    data_from: tuple[FindEntry, ...]
    refresh_seconds: float
    restart_targets: tuple[RestartTarget, ...] = ()
    refresh_policy: str = "Periodic"
    encryption: EncryptionSpec | None = None  # values written as envelopes (crypto.envelope)

    @property
    def periodic_seconds(self) -> float:
        """How often the source is checked on a timer: refreshInterval under Periodic, never otherwise."""
        return self.refresh_seconds if self.refresh_policy == "Periodic" else 0.0


def parse_synced_secret(body: dict[str, Any]) -> SyncedSecretSpec:
    spec = body.get("spec") or {}
    store_kind, store_name = parse_store_ref(spec)
    data = tuple(DataEntry(key=d["key"], name=d["name"], version=_version(d.get("version")),
                           context=dict(d.get("context") or {}), generate=_generate(d),
                           property=d.get("property") or None)
                 for d in spec.get("data") or [])
    data_from = tuple(FindEntry(pattern=f["find"], context=dict(f.get("context") or {}),
                                tags={str(k): str(v) for k, v in (f.get("tags") or {}).items()})
                      for f in spec.get("dataFrom") or [])
    if not data and not data_from:
        raise SpecError("spec needs at least one entry in data or dataFrom")
    for i, entry in enumerate(data_from):  # the rest is checked as it is compiled, in a worker thread
        check_length(entry.pattern, f"dataFrom[{i}].find")
    keys = [d.key for d in data]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise SpecError(f"data keys must be unique; repeated: {', '.join(duplicates)}")
    for key in keys:
        _check_key(key, "data[].key")
    t = spec.get("target") or {}
    template = (t.get("template") or {}).get("data")
    if template is not None:
        for key in template:
            _check_key(key, "target.template.data")
        size = sum(len(str(text).encode()) for text in template.values())
        if size > MAX_TEMPLATE_BYTES:
            raise SpecError(f"target.template.data holds {size} bytes; all templates of one object together may "
                            f"hold at most {MAX_TEMPLATE_BYTES}")
    template_from = tuple(_template_source(raw) for raw in (t.get("template") or {}).get("templateFrom") or [])
    outputs = [s.output for s in template_from] + list(template or {})
    repeated = sorted({k for k in outputs if outputs.count(k) > 1})
    if repeated:
        raise SpecError(f"target.template: each key is rendered once; repeated: {', '.join(repeated)}")
    target = Target(name=target_name(body), type=t.get("type", "Opaque"),
                    labels=dict(t.get("labels") or {}), annotations=dict(t.get("annotations") or {}),
                    template=dict(template) if template is not None else None, template_from=template_from,
                    merge_template=(t.get("template") or {}).get("mergePolicy", "Replace") == "Merge",
                    creation_policy=t.get("creationPolicy", "Owner"),
                    deletion_policy=t.get("deletionPolicy", "Delete"),
                    immutable=bool(t.get("immutable", False)))
    check_target(target.type, target.labels, target.annotations, "target")
    if target.immutable and target.creation_policy == "Merge":
        raise SpecError("target.immutable needs creationPolicy Owner or Orphan: keys merged into someone "
                        "else's Secret cannot make it immutable")
    policy = spec.get("refreshPolicy", "Periodic")
    if policy not in REFRESH_POLICIES:
        raise SpecError(f"refreshPolicy {policy!r} must be one of {', '.join(REFRESH_POLICIES)}")
    restart_targets = tuple(_restart_target(t) for t in spec.get("rolloutRestartTargets") or [])
    parsed = SyncedSecretSpec(store_kind=store_kind, store_name=store_name, target=target,
                            data=data, data_from=data_from,
                            refresh_seconds=parse_duration(spec.get("refreshInterval", DEFAULT_REFRESH),
                                                           "refreshInterval"),
                            restart_targets=restart_targets,
                            encryption=parse_encryption(spec),
                            refresh_policy=policy)
    if policy == "CreatedOnce" and (any(d.generate and d.generate.rotate_seconds for d in data)
                                    or (parsed.encryption is not None and parsed.encryption.rotate_seconds)):
        raise SpecError("refreshPolicy CreatedOnce never rewrites the Secret: it cannot rotate "
                        "(generate.rotateEvery, encryption.rotateEvery)")
    return parsed


def _generate(entry: dict[str, Any]) -> Generate | None:
    raw = entry.get("generate")
    if raw is None:
        return None
    if entry.get("version"):
        raise SpecError(f"data[{entry.get('key')}]: a generated credential cannot pin a version")
    charset = raw.get("charset", "alphanumeric")
    if charset not in CHARSETS:
        raise SpecError(f"generate.charset must be one of {', '.join(sorted(CHARSETS))}")
    length, keep = int(raw.get("length", 32)), int(raw.get("keep", 3))
    if not 8 <= length <= 4096 or keep < 1:
        raise SpecError("generate.length must be 8 to 4096 and generate.keep at least 1")
    return Generate(length=length, charset=charset, keep=keep,
                    rotate_seconds=parse_duration(raw.get("rotateEvery", "0"), "generate.rotateEvery"))


def _template_source(raw: dict[str, Any]) -> TemplateSource:
    kinds = [k for k in ("configMap", "secret") if raw.get(k)]
    if len(kinds) != 1:
        raise SpecError("target.template.templateFrom: give each entry either a configMap or a secret")
    ref = raw[kinds[0]]
    name, key = str(ref.get("name") or ""), str(ref.get("key") or "")
    if not name or not key:
        raise SpecError(f"target.template.templateFrom.{kinds[0]}: name and key are required")
    output = str(raw.get("as") or key)
    _check_key(output, "target.template.templateFrom[].as")
    return TemplateSource("ConfigMap" if kinds[0] == "configMap" else "Secret", name, key, output)


def _restart_target(raw: dict[str, Any]) -> RestartTarget:
    kind = raw.get("kind", "Deployment")
    if kind not in ("Deployment", "StatefulSet", "DaemonSet", "Rollout"):
        raise SpecError(f"rolloutRestartTargets: kind {kind!r} must be Deployment, StatefulSet, DaemonSet or Rollout")
    labels = (raw.get("selector") or {}).get("matchLabels")
    if bool(raw.get("name")) == bool(labels):
        raise SpecError("rolloutRestartTargets: give each target either a name or selector.matchLabels")
    if labels and not valid_labels(labels):
        raise SpecError("rolloutRestartTargets: selector.matchLabels holds a key or value that is not a valid "
                        "Kubernetes label")
    if raw.get("name") and not OBJECT_NAME.match(str(raw["name"])):
        raise SpecError("rolloutRestartTargets: name is not a valid object name")
    return RestartTarget(kind=kind, name=raw.get("name") or None, match_labels=dict(labels) if labels else None)


def key_for_name(name: str) -> str:
    """Secret key for a credential found by dataFrom: characters a key may not hold become '_'."""
    return re.sub(r"[^-._a-zA-Z0-9]", "_", name)


def _check_key(key: str, field_name: str) -> None:
    if not SECRET_KEY.match(key):
        raise SpecError(f"{field_name}: {key!r} is not a valid Secret key (letters, digits, '-', '_', '.')")


def _version(raw: Any) -> str | None:
    """A version as the store knows it: a credstash or SSM number, an SSM label, a Secrets Manager
    version id or staging label, an S3 VersionId. Each source checks what it can use."""
    if raw is None or raw == "":
        return None
    return str(raw)
