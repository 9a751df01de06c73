"""Fixtures for tests that start several cancelgate processes."""

from __future__ import annotations

import pytest

from cancelgate.db.migrate import upgrade
from tests.support import create_database, drop_database


@pytest.fixture
def fresh_database(database_url: str) -> object:
    """A migrated database of its own for one multi-process test."""
    from sqlalchemy.engine import make_url

    server = make_url(database_url).set(database="postgres").render_as_string(hide_password=False)
    url = create_database(server)
    upgrade(url)
    yield url
    drop_database(url)
