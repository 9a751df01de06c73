"""The issuer identifier of the URL a caller reached: as Starlette's base_url spells it."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from cancelgate.auth.principal import reached_origin


def scope(scheme: str, server: tuple[str, int], host: bytes | None, root: str = "") -> Any:
    headers = [(b"host", host)] if host is not None else []
    return {
        "type": "http",
        "scheme": scheme,
        "server": server,
        "headers": headers,
        "root_path": root,
        "path": "/api/x",
        "query_string": b"",
    }


@pytest.mark.parametrize(
    "case",
    [
        scope("http", ("127.0.0.1", 8000), b"127.0.0.1:8000"),
        scope("https", ("10.0.0.1", 443), None, "/cancelgate"),
        scope("http", ("10.0.0.1", 8080), None),
        scope("http", ("10.0.0.1", 80), None),
        scope("http", ("10.0.0.1", 80), b"Example.COM"),
    ],
)
def test_the_origin_reached_is_what_starlette_calls_the_base_url(case: Any) -> None:
    assert reached_origin(case) == str(Request(case).base_url).rstrip("/")
