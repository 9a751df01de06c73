"""Rate limits without a server: policies from rates and bursts, the RateLimit fields, the
in-memory limiter's counting and failure waits, and the client id a token request names."""

from __future__ import annotations

import base64
import json

import pytest

from cancelgate.auth.token_endpoint import TokenRequest, claimed_client_id
from cancelgate.rate_limits import Family, Policy, RateLimiter, Verdict, policies_of
from cancelgate.settings import Settings


class Refused(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@pytest.mark.parametrize(
    ("per_second", "burst", "window"),
    [(20, 40, 2), (10, 20, 2), (10, 10, 1), (5 / 60, 5, 60), (3, 10, 4), (100, 1, 1)],
)
def test_a_rate_and_a_burst_are_burst_requests_in_burst_over_rate_seconds(
    per_second: float, burst: int, window: int
) -> None:
    policy = Policy.of_rate("status", per_second, burst)
    assert (policy.quota, policy.window) == (burst, window)
    assert policy.field() == f'"status";q={burst};w={window}'


def test_the_defaults_are_the_issue_s() -> None:
    fields = {family: policy.field() for family, policy in policies_of(Settings()).items()}
    assert fields == {
        Family.STATUS: '"status";q=40;w=2',
        Family.COMMANDS: '"commands";q=20;w=2',
        Family.TOKENS: '"tokens";q=5;w=60',
        Family.UX: '"ux";q=10;w=1',
    }


def test_fields_are_structured_field_items_of_the_draft() -> None:
    verdict = Verdict(Policy.of_rate("ux", 10, 10), False, 0, 1)
    assert verdict.headers() == [
        (b"ratelimit-policy", b'"ux";q=10;w=1'),
        (b"ratelimit", b'"ux";r=0;t=1'),
    ]
    assert Verdict(verdict.policy, True, 10, 0).retry_after == 1  # never 0


def small(**extra: object) -> RateLimiter:
    settings = Settings(
        rate_limit_status_per_second=1,
        rate_limit_status_burst=3,
        **extra,  # type: ignore[arg-type]
    )
    return RateLimiter(settings)


async def test_the_memory_limiter_counts_per_key_and_refuses_past_the_quota() -> None:
    limiter = small()
    scope: dict[str, object] = {}
    remaining = []
    for _ in range(3):
        await limiter.enforce(scope, Family.STATUS, "a", Refused)
        remaining.append(scope["cancelgate.rate_limit_headers"])
    assert [fields[1][1] for fields in remaining] == [  # type: ignore[index]
        b'"status";r=2;t=3',
        b'"status";r=1;t=3',
        b'"status";r=0;t=3',
    ]
    with pytest.raises(Refused) as refused:
        await limiter.enforce(scope, Family.STATUS, "a", Refused)
    assert 1 <= refused.value.retry_after <= 3
    await limiter.enforce({}, Family.STATUS, "b", Refused)  # another key: its own quota
    await limiter.enforce({}, Family.COMMANDS, "a", Refused)  # another family too


async def test_limits_off_count_nothing_and_add_no_fields() -> None:
    limiter = small(rate_limits=False)
    scope: dict[str, object] = {}
    for _ in range(10):
        await limiter.enforce(scope, Family.STATUS, "a", Refused)
    assert scope == {}


async def test_failures_past_the_allowance_make_attempts_wait_growing_to_the_maximum() -> None:
    limiter = small(rate_limit_token_failures=2, rate_limit_token_failure_max_delay_seconds=4)
    waits = []
    for _ in range(6):
        await limiter.failed("cg_x")
        try:
            await limiter.failure_wait("cg_x", Refused)
            waits.append(0)
        except Refused as refused:
            waits.append(refused.retry_after)
        await limiter.storage.clear("token-wait/cg_x")  # as if the wait had passed
    assert waits == [0, 1, 2, 4, 4, 4]
    await limiter.succeeded("cg_x")
    await limiter.failed("cg_x")
    await limiter.failure_wait("cg_x", Refused)  # forgotten: the allowance is whole again


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def assertion(issuer: str) -> str:
    def part(value: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part({'iss': issuer})}.c2ln"


@pytest.mark.parametrize(
    ("form", "authorization", "named"),
    [
        ({}, basic("cg_basic", "s"), "cg_basic"),
        ({"client_id": "cg_post", "client_secret": "s"}, None, "cg_post"),
        ({"client_assertion": assertion("cg_jwt")}, None, "cg_jwt"),
        ({"client_assertion": "not-a-jwt"}, None, None),
        ({}, "Basic %%%", None),
        ({}, None, None),
    ],
)
def test_the_client_id_a_token_request_names(
    form: dict[str, str], authorization: str | None, named: str | None
) -> None:
    assert claimed_client_id(TokenRequest(form=form, authorization=authorization)) == named
