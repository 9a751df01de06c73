"""An app's lifespan lets go of the embedded server of its own data directory only: an app run
inside a process that started a server for another use (the test suite, a seeding script)
leaves that server running; the app of the server's own data directory stops it at its end.
Run in a fresh interpreter, so that this test session's own embedded server is never touched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCRIPT = """
import asyncio, json, sys
from pathlib import Path
import psycopg
from cancelgate.app import create_app
from cancelgate.db.embedded import start_embedded
from cancelgate.db.urls import libpq_url
from cancelgate.migrate import upgrade
from cancelgate.settings import Settings

owner, other = Path(sys.argv[1]), Path(sys.argv[2])
url = start_embedded(owner)
upgrade(url)

def alive():
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as connection:
            return connection.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False

async def run_app(data_dir):
    settings = Settings(
        database_url=url, data_dir=data_dir, in_process_worker=False, log_level="WARNING"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass

found = {}
asyncio.run(run_app(other))
found["after_another_dirs_app"] = alive()
asyncio.run(run_app(owner))
found["after_its_own_app"] = alive()
print(json.dumps(found))
"""


def test_an_app_releases_only_its_own_embedded_server(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "owner"), str(tmp_path / "other")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"after_another_dirs_app": True, "after_its_own_app": False}
