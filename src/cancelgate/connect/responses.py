"""Answers shared by the request-reply endpoints."""

from __future__ import annotations

from starlette.responses import Response


def still_processing(retry_after_seconds: int) -> Response:
    """202 with `Retry-After`: the outcome is not there yet; poll again then."""
    return Response(status_code=202, headers={"Retry-After": str(retry_after_seconds)})
