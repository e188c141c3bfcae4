"""What a hostile tenant applies to stall the operator for everyone: templates that never end or
explode, a backtracking regex, hot refresh loops and more objects on a 0.1 requests/s store than
the operator has worker threads. Used by test_hostile_tenant and bench/bench_hostile_delay.py."""

from __future__ import annotations

from typing import Any

from tests.objects import credstash_store, synced_secret

LONG_CREDENTIAL = "hostile.long"  # its value is 2,000 characters: the endless loops iterate over it
ENDLESS = ("{% for a in long %}{% for b in long %}{% for c in long %}{% for d in long %}{% endfor %}{% endfor %}"
           "{% endfor %}{% endfor %}")
REGEX_BAIT = [f"{'x' * 60}{i}z" for i in range(3)]  # names that make /(.*.*)*y/ backtrack


def hostile_objects(table: str) -> list[dict[str, Any]]:
    """The stores ("main", and "slow" at 0.1 requests/s) and SyncedSecrets, for one namespace."""
    slow = credstash_store("slow", table)
    slow["spec"]["rateLimit"] = {"requestsPerSecond": 0.1, "burst": 1}
    long_entry = [{"key": "long", "name": LONG_CREDENTIAL}]
    objects = [credstash_store("main", table), slow]
    objects += [synced_secret(f"endless-{i}", "main", long_entry, refreshInterval="1s",
                              target={"template": {"data": {"k": ENDLESS}}}) for i in range(4)]
    objects += [synced_secret(name, "main", long_entry, target={"template": {"data": {"k": source}}})
                for name, source in (("huge", "{{ 'a' * 400000000 }}"), ("power", "{{ 10 ** 10000000 }}"))]
    objects += [synced_secret("regex", "main", [], dataFrom=[{"find": "/(.*.*)*y/"}], refreshInterval="1s")]
    # More objects on the 0.1 requests/s store than the operator has worker threads (32).
    objects += [synced_secret(f"slow-{i}", "slow", long_entry, refreshInterval="1s") for i in range(40)]
    return objects
