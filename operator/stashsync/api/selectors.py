"""Kubernetes label selectors (matchLabels + matchExpressions), evaluated locally."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stashsync.errors import SpecError

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


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
