"""Reading Prometheus metrics, ours and other operators', with prometheus_client's own parser."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def scrape(url: str, token: str | None = None) -> str:
    """The metrics at `url`; `token`: a bearer token, for an operator with metrics.auth kubernetes."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


def samples(text: str, name: str, **labels: str) -> Iterator[Sample]:
    """The samples named `name` (e.g. "stashsync_syncs_total") whose labels include `labels`."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                yield sample


def metric_sum(text: str, name: str, **labels: str) -> float:
    return sum(s.value for s in samples(text, name, **labels))
