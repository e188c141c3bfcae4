"""Kubernetes label selectors (matchLabels + matchExpressions), evaluated locally."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stashsync.errors import SpecError

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
LABEL_KEY = re.compile(rf"^(({_DNS_SUBDOMAIN})/)?{_NAME}$")
LABEL_VALUE = re.compile(rf"^({_NAME})?$")


def valid_labels(labels: dict[str, str]) -> bool:
    """Every key and value is one Kubernetes accepts: so a selector built from them says only what
    they say (no ',', '!', '=' or set syntax a tenant could slip in)."""
    return all(isinstance(k, str) and isinstance(v, str) and LABEL_KEY.match(k) and len(k.split("/")[0]) <= 253
               and LABEL_VALUE.match(v) for k, v in labels.items())


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: dict[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        if self.operator == "In":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values  # NotIn: also true when the key is absent


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: dict[str, str]) -> bool:
        """All requirements hold. An empty selector matches everything, as in Kubernetes."""
        return all(r.matches(labels) for r in self.requirements)


def parse_label_selector(raw: dict[str, Any]) -> LabelSelector:
    requirements = [Requirement(k, "In", frozenset([str(v)])) for k, v in (raw.get("matchLabels") or {}).items()]
    for expression in raw.get("matchExpressions") or []:
        operator = expression.get("operator")
        values = frozenset(str(v) for v in expression.get("values") or [])
        if operator not in OPERATORS:
            raise SpecError(f"namespaceSelector: operator {operator!r} must be one of {', '.join(OPERATORS)}")
        if (operator in ("In", "NotIn")) != bool(values):
            raise SpecError(f"namespaceSelector: {operator} {'needs' if operator in ('In', 'NotIn') else 'takes no'} "
                            "values")
        requirements.append(Requirement(str(expression.get("key", "")), operator, values))
    return LabelSelector(tuple(requirements))
