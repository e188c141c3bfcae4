"""Every plaintext a test uses, for the test that greps the operator's output for them."""

LEAK_CANARIES: set[str] = set()
