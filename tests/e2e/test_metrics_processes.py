"""Metrics across processes: `serve --workers 2` answers one scrape for both processes (and
reads the queue once, not per process), `CANCELGATE_METRICS=false` removes `/metrics`, and
`cancelgate worker --metrics-port` serves the worker's own."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from cancelgate.appointments.service import SUBMIT_TASK
from cancelgate.upstream.nbn import scenarios
from tests.e2e.seeding import seed
from tests.prometheus import Scrape, scrape_sync
from tests.support import (
    REQUEST,
    VERSION_8,
    free_port,
    poll_outcome,
    poll_until,
    query,
    report,
    running,
    token_for,
)

pytestmark = pytest.mark.e2e

COUNT = "http_server_request_duration_seconds_count"
JOBS = "cancelgate_job_duration_seconds_count"
READY = {"http_request_method": "GET", "http_route": "/readyz", "http_response_status_code": "200"}
# Waiting for both API processes to have served a request: at most this many requests.
MAX_REQUESTS = 500


def readyz_served(directory: Path) -> dict[str, float]:
    """How many GET /readyz each API process has timed, from the file it writes its histograms
    to (histogram_<pid>.db), read on its own."""
    served = {}
    for path in directory.glob("histogram_*.db"):
        merged = MultiProcessCollector.merge([str(path)])  # type: ignore[no-untyped-call]
        counts = [
            sample.value
            for family in merged
            for sample in family.samples
            if sample.name == COUNT and sample.labels == READY
        ]
        served[path.stem.removeprefix("histogram_")] = sum(counts)
    return served


def both_served(served: dict[str, float]) -> bool:
    """Both API processes have served some."""
    return len(served) == 2 and all(served.values())


def test_serve_workers_answer_one_scrape_for_every_process(
    fresh_database: str, tmp_path: Path
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    stale = shared / "counter_999999.db"  # an earlier run's: it must not be counted
    stale.write_bytes(b"\0" * 16)
    # Due jobs and none to run them (--no-worker): 3 due 10 minutes ago, 1 just deferred, and 1
    # scheduled for later, which does not wait yet.
    query(
        fresh_database,
        "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, scheduled_at) "
        "SELECT 'default', %s, '{}', 'todo', due FROM unnest(ARRAY[now() - interval '10 minutes',"
        " now() - interval '10 minutes', now() - interval '10 minutes', NULL,"
        " now() + interval '1 hour']) AS due RETURNING id",
        SUBMIT_TASK,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "DATABASE_URL": fresh_database,
        "CANCELGATE_DATA_DIR": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
    }
    args = ["serve", "--no-worker", "--workers", "2", "--port", str(port)]
    with running(args, env, tmp_path / "serve.log", base + "/healthz"):
        assert not stale.exists()
        sent = 0
        # Fresh connections until both processes have served some: each holds part of the count.
        while sent < MAX_REQUESTS and not both_served(readyz_served(shared)):
            assert httpx.get(base + "/readyz", timeout=10).status_code == 200
            sent += 1
        served = readyz_served(shared)
        assert both_served(served), served
        assert sum(served.values()) == sent
        report(requests_until_both_processes_served=sent, by_process=sorted(served.values()))
        scrapes = [scrape_sync(base + "/metrics") for _ in range(6)]
    for scraped in scrapes:  # whichever process answered
        assert scraped.value(COUNT, **READY) == sent
        assert scraped.value("cancelgate_jobs_waiting", task=SUBMIT_TASK) == 4
        oldest = scraped.value("cancelgate_job_oldest_waiting_seconds", task=SUBMIT_TASK)
        assert 600 <= oldest < 900
        assert scraped.value("cancelgate_webhook_pending") == 0


def test_metrics_off_leaves_no_route_behind(fresh_database: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": fresh_database, "CANCELGATE_METRICS": "false"}
    args = ["serve", "--no-worker", "--port", str(port)]
    with running(args, env, tmp_path / "serve.log", base + "/healthz"):
        assert httpx.get(base + "/metrics").status_code == 404
        assert httpx.get(base + "/readyz").status_code == 200


def test_the_worker_serves_its_own_metrics(fresh_database: str, tmp_path: Path) -> None:
    client_id, secret, [appointment_id] = seed(fresh_database, scenarios.BOOKED, 1)
    api_port, metrics_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    worker_metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    env = {"DATABASE_URL": fresh_database, "CANCELGATE_DATA_DIR": str(tmp_path)}
    serve = ["serve", "--no-worker", "--port", str(api_port)]
    worker = ["worker", "--metrics-port", str(metrics_port)]
    succeeded = {"task": SUBMIT_TASK, "outcome": "succeeded"}
    with (
        running(serve, env, tmp_path / "api.log", api + "/healthz"),
        running(worker, env, tmp_path / "worker.log", worker_metrics) as worker_process,
    ):
        assert scrape_sync(worker_metrics).value(JOBS, **succeeded) == 0
        headers = {"Authorization": f"Bearer {token_for(api, client_id, secret)}", **VERSION_8}
        with httpx.Client(base_url=api, timeout=10) as http:
            response = http.post(REQUEST, json={"appointmentId": appointment_id}, headers=headers)
            assert response.status_code == 201, response.text
            assert poll_outcome(http, response.headers["location"], headers).status_code == 200
        ran = poll_until(
            lambda: scrape_sync(worker_metrics),
            lambda scraped: scraped.value(JOBS, **succeeded) == 1,
            timeout=10,
            what="the job counted by the worker",
        )
        # The nbn call was the worker's too; the API process ran no job.
        call = {"upstream": "nbn", "operation": "cancel", "outcome": "ok"}
        assert ran.value("cancelgate_upstream_request_duration_seconds_count", **call) == 1
        assert Scrape(httpx.get(api + "/metrics").text).value(JOBS, **succeeded) == 0
        # The queue's gauges, read by the worker's scrape as by the API's.
        assert ("cancelgate_jobs_waiting", frozenset({("task", SUBMIT_TASK)})) in ran.samples
        # SIGTERM: the worker and its metrics server stop cleanly.
        assert worker_process.stop() == 0
