"""Session-wide fixtures: a fresh, migrated database on the configured (or embedded) server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cancelgate.db.embedded import start_embedded
from cancelgate.migrate import upgrade
from tests.support import create_database, drop_database


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A new database for this test run: on DATABASE_URL's server, else on an embedded one."""
    server = os.environ.get("DATABASE_URL") or start_embedded(tmp_path_factory.mktemp("pg"))
    url = create_database(server)
    upgrade(url)
    yield url
    drop_database(url)
