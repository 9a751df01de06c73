"""Idempotency-Key on Connect POSTs (IETF httpapi draft): replay, reuse and in-flight rules."""
