"""The command line's token store: one token across runs, readable by its owner only."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import httpx

from cancelgate_client import AsyncClient
from cancelgate_client.tokens import Credentials, FileTokenStore, StoredToken, token_key

BASE = "https://cancelgate.test"


class Server:
    """Issues numbered tokens and answers GETs with the token it was shown."""

    def __init__(self, expires_in: int = 3000) -> None:
        self.issued = 0
        self.expires_in = expires_in

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.issued += 1
            body = {
                "access_token": f"token-{self.issued}",
                "token_type": "Bearer",
                "expires_in": self.expires_in,
            }
            return httpx.Response(200, json=body)
        return httpx.Response(200, json={"shown": request.headers["authorization"]})


async def run_once(
    server: Server, store: FileTokenStore, client_id: str = "cg_1", secret: str = "s3cret"
) -> str:
    """One command's life: a client of its own, one token."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    async with AsyncClient(
        BASE, client_id=client_id, client_secret=secret, http=http, token_store=store
    ) as api:
        token = (await api.token()).access_token
    await http.aclose()
    return token


async def test_runs_share_one_token_until_it_nears_expiry(tmp_path: Path) -> None:
    server, store = Server(), FileTokenStore(tmp_path / "tokens")
    assert [await run_once(server, store) for _ in range(3)] == ["token-1"] * 3
    assert server.issued == 1
    # Another client id (or token endpoint) has a token of its own.
    assert await run_once(server, store, client_id="cg_2") == "token-2"
    # So has another secret: a kept token never stands in for credentials it was not given for.
    assert await run_once(server, store, secret="a-stale-secret") == "token-3"


async def test_a_token_near_its_expiry_is_replaced(tmp_path: Path) -> None:
    server, store = Server(), FileTokenStore(tmp_path / "tokens")
    key = token_key(f"{BASE}/oauth/token", Credentials("cg_1", client_secret="s3cret"))
    store.save(key, StoredToken("old", "Bearer", time.time() + 30))  # inside the margin
    assert await run_once(server, store) == "token-1"
    assert store.load(key) is not None and store.load(key).access_token == "token-1"  # type: ignore[union-attr]
    store.save(key, StoredToken("gone", "Bearer", time.time() - 1))
    assert await run_once(server, store) == "token-2"


async def test_the_file_is_its_owners_alone_and_junk_is_ignored(tmp_path: Path) -> None:
    server, store = Server(), FileTokenStore(tmp_path / "tokens")
    await run_once(server, store)
    [kept] = list((tmp_path / "tokens").iterdir())
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tokens").stat().st_mode) == 0o700
    assert json.loads(kept.read_text())["access_token"] == "token-1"
    assert "cg_1" not in kept.name  # named by a hash, not by whose it is
    kept.write_text("{not json")
    assert await run_once(server, store) == "token-2"
