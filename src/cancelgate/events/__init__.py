"""Domain events recorded durably (the outbox webhooks deliver from)."""
