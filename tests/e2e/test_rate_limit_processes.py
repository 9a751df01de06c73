"""Rate limits across processes: one quota through Redis for every `serve` process that names it
(and the same key prefix), one per process without it; a Redis that is down limits nothing."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis

from cancelgate.upstream.nbn import scenarios
from tests.e2e.seeding import seed
from tests.support import VERSION_8, free_port, running, token_for

pytestmark = pytest.mark.e2e

REDIS_URL = os.environ.get("CANCELGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# 4 status GETs in any 8 s per client: the test's requests stay inside one window.
QUOTA = 4
LIMITED = {
    "CANCELGATE_RATE_LIMIT_STATUS_PER_SECOND": "0.5",
    "CANCELGATE_RATE_LIMIT_STATUS_BURST": str(QUOTA),
}
UNKNOWN_SERVICE = "/api/connect/services/999999999"
REMAINING = re.compile(r'"status";r=(\d+);t=\d+')


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, redis.Redis]]:
    """A key prefix of this test's own on the test Redis; its keys (and only they) deleted
    after. Skipped where no Redis answers (REDIS_URL, CANCELGATE_TEST_REDIS_URL)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    prefix = f"cancelgate-test-{uuid.uuid4().hex}"
    try:
        yield prefix, client
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        client.close()


def apis(database_url: str, tmp_path: Path, stack: ExitStack, count: int, **env: str) -> list[str]:
    """`count` serve processes (no worker) on the database, each with this env, behind one
    public URL."""
    bases = []
    for index in range(count):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        full = {
            "DATABASE_URL": database_url,
            "CANCELGATE_DATA_DIR": str(tmp_path),
            # One issuer for all, as behind a balancer: a token works at every process.
            "CANCELGATE_PUBLIC_BASE_URL": "http://cancelgate.test",
            **env,
        }
        serve = ["serve", "--port", str(port), "--no-worker"]
        stack.enter_context(running(serve, full, tmp_path / f"api{index}.log", base + "/healthz"))
        bases.append(base)
    return bases


def look(base: str, token: str) -> httpx.Response:
    """One status GET (a 404: counted like any other answer)."""
    headers = {"Authorization": f"Bearer {token}", **VERSION_8}
    return httpx.get(base + UNKNOWN_SERVICE, headers=headers, timeout=10)


def remaining(response: httpx.Response) -> int:
    match = REMAINING.fullmatch(response.headers.get("ratelimit", ""))
    assert match is not None, response.headers
    return int(match[1])


def test_redis_shares_one_quota_between_processes(
    fresh_database: str, tmp_path: Path, redis_prefix: tuple[str, redis.Redis]
) -> None:
    """Two processes, one Redis, one prefix: requests to either spend the same quota, and
    once it is spent both refuse; the counts live under the prefix in Redis."""
    prefix, client = redis_prefix
    client_id, secret, _ = seed(fresh_database, scenarios.BOOKED, 0)
    env = {**LIMITED, "CANCELGATE_REDIS_URL": REDIS_URL, "CANCELGATE_RATE_LIMIT_KEY_PREFIX": prefix}
    with ExitStack() as stack:
        first, second = apis(fresh_database, tmp_path, stack, 2, **env)
        token = token_for(first, client_id, secret)
        answers = [look(base, token) for base in (first, second, first, second)]
        assert [a.status_code for a in answers] == [404] * QUOTA
        # One count: each answer shows what the four together left.
        assert [remaining(a) for a in answers] == [3, 2, 1, 0]
        assert look(first, token).status_code == 429
        assert look(second, token).status_code == 429
    assert any(True for _ in client.scan_iter(match=f"{prefix}:*"))


def test_without_redis_each_process_has_its_own_quota(fresh_database: str, tmp_path: Path) -> None:
    """Two processes without Redis: spending the quota at one leaves the other's whole."""
    client_id, secret, _ = seed(fresh_database, scenarios.BOOKED, 0)
    with ExitStack() as stack:
        first, second = apis(fresh_database, tmp_path, stack, 2, **LIMITED)
        token = token_for(first, client_id, secret)
        assert [remaining(look(first, token)) for _ in range(QUOTA)] == [3, 2, 1, 0]
        assert look(first, token).status_code == 429
        other = look(second, token)
        assert other.status_code == 404 and remaining(other) == QUOTA - 1


def test_a_redis_that_is_down_limits_nothing(fresh_database: str, tmp_path: Path) -> None:
    """Redis unreachable: every request is answered as if there were no limit (no fields, no
    429), and the process says so in its log."""
    client_id, secret, _ = seed(fresh_database, scenarios.BOOKED, 0)
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with ExitStack() as stack:
        [base] = apis(fresh_database, tmp_path, stack, 1, **LIMITED, CANCELGATE_REDIS_URL=nowhere)
        token = token_for(base, client_id, secret)
        answers = [look(base, token) for _ in range(QUOTA + 2)]
        assert [a.status_code for a in answers] == [404] * (QUOTA + 2)
        assert not any("ratelimit" in a.headers for a in answers)
    assert "rate_limits_unavailable" in (tmp_path / "api0.log").read_text()
