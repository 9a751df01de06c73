"""The ceiling: a minimal FastAPI app answering a constant JSON body, served as `serve` serves."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from starlette.responses import JSONResponse

from cancelgate.logs import configure_logging

BODY = {"id": 1, "appointmentId": 1, "nbnAppointmentId": "APT000000000001", "cancelledOn": None}

app = FastAPI()


@app.get("/constant")
async def constant() -> JSONResponse:
    """The same small JSON body, every time."""
    return JSONResponse(BODY)


if __name__ == "__main__":
    configure_logging("WARNING", json=True)
    # The same server settings as `cancelgate serve` (uvicorn.run, no log config).
    uvicorn.run(
        app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, timeout_graceful_shutdown=30
    )
