"""The floor: the ceiling's bare stack answering each request with one prepared primary-key read.

    python -m bench.floor PORT    (DATABASE_URL names the bench database, seeded by bench.seed)

FastAPI served as `cancelgate serve` serves it (bench/ceiling.py), and a pool as the server's
(src/cancelgate/db/database.py: psycopg 3's AsyncConnectionPool of autocommit connections, its
size and idle check, statements executed with `prepare=True`): one database round trip a request
and nothing else. What any design with one round trip per request can reach on this machine.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from starlette.responses import JSONResponse

from cancelgate.db.database import Database
from cancelgate.logs import configure_logging
from cancelgate.settings import get_settings

# Seeded by bench.seed.Seeder.floor: one row per id, the ceiling's body as columns.
TABLE = "bench_floor"
READ = (
    f"SELECT id, appointment_id, nbn_appointment_id, cancelled_on FROM {TABLE} WHERE id = %(id)s"
).encode()
PATH = "/floor/{row_id}"


def create_app(database_url: str, pool_size: int) -> FastAPI:
    """The floor app on its own pool (opened with the app, closed with it)."""
    database = Database(database_url, size=pool_size, name="cancelgate-bench-floor")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await database.open()
        try:
            yield
        finally:
            await database.close()

    app = FastAPI(lifespan=lifespan)

    @app.get(PATH)
    async def read(row_id: int) -> JSONResponse:
        """One prepared read by primary key, on a pooled autocommit connection."""
        async with database.pool.connection() as connection:
            cursor = await connection.execute(READ, {"id": row_id}, prepare=True)
            row = await cursor.fetchone()
        if row is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        found_id, appointment_id, nbn_appointment_id, cancelled_on = row
        return JSONResponse(
            {
                "id": found_id,
                "appointmentId": appointment_id,
                "nbnAppointmentId": nbn_appointment_id,
                "cancelledOn": None if cancelled_on is None else cancelled_on.isoformat(),
            }
        )

    return app


if __name__ == "__main__":
    settings = get_settings()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL must name the bench database")
    configure_logging("WARNING", json=True)
    floor = create_app(settings.database_url, settings.db_pool_size)
    # The same server settings as `cancelgate serve` (uvicorn.run, no log config).
    uvicorn.run(
        floor,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=None,
        timeout_graceful_shutdown=30,
    )
