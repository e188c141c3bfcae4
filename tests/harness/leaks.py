"""Every plaintext a test uses, and the check that none of them shows up where it must not."""

LEAK_CANARIES: set[str] = set()


def plaintext(value: str) -> str:
    """Mark a value as secret: the leak check greps logs, events and statuses for it."""
    LEAK_CANARIES.add(value)
    return value


def leaks_in(haystacks: dict[str, str]) -> list[tuple[str, str]]:
    """(canary, where) for every canary found in a haystack (e.g. "events": their text)."""
    return [(value, where) for value in sorted(LEAK_CANARIES) for where, text in haystacks.items() if value in text]
