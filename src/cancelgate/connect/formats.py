"""Wire formats of Connect values."""

from __future__ import annotations

from datetime import UTC, datetime


def instant(value: datetime | None) -> str | None:
    """A UTC instant to the second, as the Connect API writes them (`2025-10-29T04:01:55Z`)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
