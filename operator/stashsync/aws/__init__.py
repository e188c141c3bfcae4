"""AWS sessions, request budgets and KMS envelopes: what every backend and the re-encryption share."""
