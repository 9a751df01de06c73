"""Webhooks: subscriptions, signed at-least-once delivery, retries and the delivery log."""
