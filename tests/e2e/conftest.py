"""Fixtures for tests that start several cancelgate processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import migrated_database


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    """A migrated database of its own for one multi-process test."""
    with migrated_database(database_url) as url:
        yield url
