"""Exactly once: idempotency keys and cache policies, locks, completed-occurrence records and the result storage they live in."""
