"""The metrics' rules without a server: route labels, upstream and job outcomes, webhook
outcome classes, the multiprocess directory, and the PromQL reading of the deploy checks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from cancelgate.domain.appointments import NbnCheck
from cancelgate.jobs.retry import RetryLater
from cancelgate.metrics_app import HttpMetricsMiddleware
from cancelgate.observability import metrics
from cancelgate.upstream.measured import MeasuredNbn
from cancelgate.upstream.nbn.port import (
    CancelAccepted,
    CancelOutcome,
    CancelRefused,
    NbnUnavailable,
)
from cancelgate.worker import timed
from tests.prometheus import metric_names

REQUESTS = "http_server_request_duration_seconds_count"
UPSTREAM = "cancelgate_upstream_request_duration_seconds_count"
JOBS = "cancelgate_job_duration_seconds_count"


def value(name: str, **labels: str) -> float:
    """A sample of this process's registry (0 before the series exists)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def delta(name: str, labels: dict[str, str], action: Callable[[], object]) -> float:
    """How much the sample moved while action ran."""
    before = value(name, **labels)
    action()
    return value(name, **labels) - before


class AnswersEarly:
    """Answers POST …/early itself, before routing (as an idempotent replay or a 413 would)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/early"):
            await PlainTextResponse("kept", status_code=201)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def measured_app() -> FastAPI:
    router = APIRouter(prefix="/unit-metrics/things")

    @router.get("/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @router.post("/{thing_id}/early")
    async def early(thing_id: int) -> None:
        raise AssertionError("answered by the middleware")

    @router.get("/{thing_id}/boom")
    async def boom(thing_id: int) -> None:
        raise RuntimeError("a bug")

    app = FastAPI()
    app.include_router(router)
    app.add_middleware(AnswersEarly)
    app.add_middleware(HttpMetricsMiddleware)
    return app


def request_count(method: str, route: str, status: int) -> float:
    return value(
        REQUESTS,
        http_request_method=method,
        http_route=route,
        http_response_status_code=str(status),
    )


async def test_requests_are_labelled_by_route_template_never_by_path() -> None:
    transport = httpx.ASGITransport(app=measured_app(), raise_app_exceptions=False)
    routes = "/unit-metrics/things/{thing_id}"
    cases = [
        # (method, path, route label, status)
        ("GET", "/unit-metrics/things/41", routes, 200),
        ("GET", "/unit-metrics/things/x", routes, 422),
        ("DELETE", "/unit-metrics/things/41", routes, 405),
        # Answered before routing: matched against the application's routes.
        ("POST", "/unit-metrics/things/41/early", routes + "/early", 201),
        # The application raised: the server's 500.
        ("GET", "/unit-metrics/things/41/boom", routes + "/boom", 500),
        ("GET", "/unit-metrics/nothing/here/41", metrics.UNMATCHED_ROUTE, 404),
        ("PURGE", "/unit-metrics/things/41", routes, 405),
    ]
    async with httpx.AsyncClient(transport=transport, base_url="http://unit") as client:
        for method, path, route, status in cases:
            label = method if method in metrics.HTTP_METHODS else metrics.OTHER_METHOD
            before = request_count(label, route, status)
            response = await client.request(method, path)
            assert response.status_code == status, (method, path)
            assert request_count(label, route, status) - before == 1, (method, path)
    exposed = metrics.exposition().decode()
    assert "/unit-metrics/things/41" not in exposed and "PURGE" not in exposed


class FakeNbn:
    """An nbn that answers, or raises, as told."""

    def __init__(self, answer: CancelOutcome | None = None, fails: BaseException | None = None):
        self.answer, self.fails = answer, fails
        self.waiting = asyncio.Event()

    async def check_cancellable(self, *, nbn_appointment_id: str, at: object = None) -> NbnCheck:
        await self.waiting.wait()  # never set: a call its caller gives up on
        raise AssertionError("unreachable")

    async def cancel(
        self, *, nbn_appointment_id: str, request_key: str, at: object = None
    ) -> CancelOutcome:
        if self.fails is not None:
            raise self.fails
        assert self.answer is not None
        return self.answer

    async def cancel_service(self, **_: object) -> CancelOutcome:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def timed_out() -> NbnUnavailable:
    try:
        raise httpx.ReadTimeout("no answer")
    except httpx.ReadTimeout as exc:
        unavailable = NbnUnavailable("GET …: ReadTimeout")
        unavailable.__cause__ = exc
        return unavailable


@pytest.mark.parametrize(
    ("fake", "outcome"),
    [
        (FakeNbn(CancelAccepted(cancelled_at=datetime.now(UTC))), metrics.UPSTREAM_OK),
        (FakeNbn(CancelRefused("past the point of no return")), metrics.UPSTREAM_REFUSED),
        (FakeNbn(fails=NbnUnavailable("simulated outage")), metrics.UPSTREAM_UNAVAILABLE),
        (FakeNbn(fails=timed_out()), metrics.UPSTREAM_TIMEOUT),
        (FakeNbn(fails=KeyError("a bug")), metrics.UPSTREAM_ERROR),
    ],
)
async def test_each_upstream_call_is_timed_by_its_outcome(fake: FakeNbn, outcome: str) -> None:
    labels = {"upstream": "nbn", "operation": "cancel", "outcome": outcome}
    before = value(UPSTREAM, **labels)
    port = MeasuredNbn(fake)
    try:
        await port.cancel(nbn_appointment_id="APT1", request_key="k")
    except (NbnUnavailable, KeyError) as exc:
        assert exc is fake.fails  # passed on untouched
    assert value(UPSTREAM, **labels) - before == 1


async def test_a_call_its_caller_gives_up_on_is_a_timeout() -> None:
    labels = {"upstream": "nbn", "operation": "check_cancellable", "outcome": "timeout"}
    before = value(UPSTREAM, **labels)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await MeasuredNbn(FakeNbn()).check_cancellable(nbn_appointment_id="APT1")
    assert value(UPSTREAM, **labels) - before == 1


def run_timed(raises: BaseException | None) -> None:
    try:
        with timed("unit.metrics.task"):
            if raises is not None:
                raise raises
    except BaseException as exc:
        assert exc is raises


@pytest.mark.parametrize(
    ("raises", "outcome"),
    [
        (None, metrics.JOB_SUCCEEDED),
        (RetryLater(5, "the nbn is down"), metrics.JOB_RETRY),
        (ValueError("a bug"), metrics.JOB_FAILED),
    ],
)
def test_a_job_run_is_timed_by_outcome(raises: BaseException | None, outcome: str) -> None:
    labels = {"task": "unit.metrics.task", "outcome": outcome}
    assert delta(JOBS, labels, lambda: run_timed(raises)) == 1


def test_a_job_run_cut_short_by_a_shutdown_is_not_counted() -> None:
    outcomes = (metrics.JOB_SUCCEEDED, metrics.JOB_RETRY, metrics.JOB_FAILED)
    before = [value(JOBS, task="unit.metrics.task", outcome=o) for o in outcomes]
    run_timed(asyncio.CancelledError())
    assert [value(JOBS, task="unit.metrics.task", outcome=o) for o in outcomes] == before


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "2xx"), (204, "2xx"), (404, "4xx"), (410, "4xx"), (429, "4xx"), (500, "5xx"),
     (503, "5xx"), (301, "error"), (101, "error")],
)  # fmt: skip
def test_a_webhook_answer_is_counted_by_its_class(status: int, outcome: str) -> None:
    assert metrics.webhook_outcome(status) == outcome
    assert outcome in metrics.WEBHOOK_OUTCOMES
    labels = {"outcome": outcome}
    name = "cancelgate_webhook_attempts_total"
    assert delta(name, labels, lambda: metrics.count_webhook_attempt(outcome)) == 1


def test_rate_limited_requests_are_counted_by_family() -> None:
    name = "cancelgate_rate_limited_total"
    moved = delta(name, {"family": "unit"}, lambda: metrics.count_rate_limited("unit"))
    assert moved == 1


def test_a_given_multiprocess_directory_is_emptied_of_earlier_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "shared"
    given.mkdir()
    (given / "counter_4242.db").write_bytes(b"stale")
    (given / "README").write_text("not ours")
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(given))
    with metrics.multiprocess_directory() as directory:
        assert directory == given
        assert sorted(p.name for p in given.iterdir()) == ["README"]
    assert given.exists()


def test_without_one_a_fresh_directory_lives_as_long_as_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    with metrics.multiprocess_directory() as directory:
        assert directory.is_dir() and list(directory.iterdir()) == []
        (directory / "histogram_1.db").write_bytes(b"")
    assert not directory.exists()


def test_promql_names_exclude_functions_labels_ranges_and_keywords() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, http_route) (rate(requests_bucket{route!="/m",'
        ' job=~"a|b"}[$__rate_interval]))) > 0.5 and on (instance) max(waiting offset 5m) > 1e3'
        " / ignoring (outcome) group_left sum without (x) (rate(attempts_total[5m:1m]))"
    )
    assert metric_names(expr) == {"requests_bucket", "waiting", "attempts_total"}
    assert metric_names('label_replace(up, "a", "$1", "b", "(.*)")') == {"up"}
