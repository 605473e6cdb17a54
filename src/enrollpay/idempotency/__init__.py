"""`Idempotency-Key` for API writes: one stored response per learner and key (SPEC §4.2)."""
