"""Traces across processes: an API process and a separate worker, both exporting over OTLP/HTTP
to a receiver here, make one trace of a cancellation, from the POST to the webhook attempt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from cancelgate.appointments.service import SUBMIT_TASK
from cancelgate.upstream.nbn import scenarios
from cancelgate.webhooks.events import DELIVER_TASK
from tests.e2e.otlp import CLIENT, CONSUMER, SERVER, Collector, Exported, collecting
from tests.e2e.seeding import seed
from tests.e2e.test_processes import simulator_env
from tests.receiver import receiving
from tests.support import (
    REQUEST,
    SUBSCRIPTIONS,
    VERSION_8,
    free_port,
    poll_outcome,
    running,
    token_for,
)

pytestmark = pytest.mark.e2e
POST_SPAN = f"POST {REQUEST}"
IN_TRACE = (
    POST_SPAN,
    "nbn check cancellable",
    f"job {SUBMIT_TASK}",
    "nbn cancel",
    "event appointment.cancelled",
    f"job {DELIVER_TASK}",
    "webhook attempt",
)


def tracing_env(collector: Collector) -> dict[str, str]:
    """Traces on, by the standard variables only, exported quickly to the collector."""
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


def the_trace_of(spans: list[Exported]) -> dict[str, Exported]:
    """The spans of the POST's trace by name (one each, or the test fails)."""
    [post] = [span for span in spans if span.name == POST_SPAN]
    by_name: dict[str, Exported] = {}
    for span in spans:
        if span.trace_id == post.trace_id and span.name in IN_TRACE:
            assert span.name not in by_name, f"two spans named {span.name}"
            by_name[span.name] = span
    return by_name


def whole(spans: list[Exported]) -> bool:
    posts = [span for span in spans if span.name == POST_SPAN]
    return len(posts) == 1 and set(the_trace_of(spans)) == set(IN_TRACE)


def is_sql(span: Exported) -> bool:
    return any(key.startswith("db.") for key in span.attributes)


def log_lines(text: str, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


def test_one_trace_covers_the_post_the_job_the_nbn_the_event_and_the_webhook(
    fresh_database: str, tmp_path: Path
) -> None:
    client_id, secret, [appointment_id] = seed(fresh_database, scenarios.BOOKED, 1)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with collecting() as collector, receiving() as hooks:
        env = {
            "DATABASE_URL": fresh_database,
            "CANCELGATE_DATA_DIR": str(tmp_path),
            "CANCELGATE_WEBHOOK_ALLOW_INSECURE": "true",
            # The worker's webhook_attempt line is at info.
            "CANCELGATE_LOG_LEVEL": "INFO",
            **tracing_env(collector),
        }
        serve = ["serve", "--port", str(port), "--no-worker"]
        with (
            running(serve, env, tmp_path / "api.log", api + "/healthz") as server,
            running(["worker"], env, tmp_path / "worker.log", api + "/healthz") as worker,
            httpx.Client(base_url=api, timeout=10) as http,
        ):
            headers = {"Authorization": f"Bearer {token_for(api, client_id, secret)}", **VERSION_8}
            body = {"url": hooks.url, "events": ["appointment.cancelled"]}
            assert http.post(SUBSCRIPTIONS, json=body, headers=headers).status_code == 201
            posted = http.post(REQUEST, json={"appointmentId": appointment_id}, headers=headers)
            assert posted.status_code == 201, posted.text
            assert poll_outcome(http, posted.headers["location"], headers).status_code == 200
            [hook] = hooks.wait_for(1, timeout=20)
            spans = collector.wait_until(whole, timeout=20, what="the whole trace")
            worker_log = worker.output()
        api_pid, worker_pid = server.proc.pid, worker.proc.pid

    trace = the_trace_of(spans)
    post, check = trace[POST_SPAN], trace["nbn check cancellable"]
    job, cancel = trace[f"job {SUBMIT_TASK}"], trace["nbn cancel"]
    event, delivery = trace["event appointment.cancelled"], trace[f"job {DELIVER_TASK}"]
    attempt = trace["webhook attempt"]
    request_id = posted.headers["x-request-id"]

    # The request, in the API process: a root server span, the nbn's pre-check within it.
    assert post.kind == SERVER and post.parent_span_id == ""
    assert post.attributes["cancelgate.request_id"] == request_id
    assert check.parent_span_id == post.span_id
    assert {post.resource["process.pid"], check.resource["process.pid"]} == {api_pid}
    # The job, in the worker process: the child of the request's span.
    assert job.kind == CONSUMER and job.parent_span_id == post.span_id
    assert job.resource["process.pid"] == worker_pid
    assert job.resource["service.name"] == "cancelgate"
    assert job.resource["service.instance.id"] != post.resource["service.instance.id"]
    assert cancel.kind == CLIENT and cancel.parent_span_id == job.span_id
    assert event.parent_span_id == job.span_id
    # The delivery's job continues from the event; the attempt is its own span within it.
    assert delivery.parent_span_id == event.span_id
    assert attempt.kind == CLIENT and attempt.parent_span_id == delivery.span_id
    assert attempt.attributes["http.response.status_code"] == 200
    assert {s.resource["process.pid"] for s in (cancel, event, delivery, attempt)} == {worker_pid}
    # SQL statements: children within the trace (the worker's transaction among them), never
    # traces of their own (the queue's polling and heartbeats).
    sql = [span for span in spans if is_sql(span)]
    assert any(s.trace_id == post.trace_id and s.parent_span_id == job.span_id for s in sql)
    assert not [span for span in sql if span.parent_span_id == ""]
    # The tenant's receiver is not told our trace.
    assert "traceparent" not in hook.headers
    # The worker's log line about the attempt names the trace and the request that caused it.
    [line] = log_lines(worker_log, "webhook_attempt")
    assert (line["trace_id"], line["span_id"]) == (post.trace_id, delivery.span_id)
    assert line["request_id"] == request_id


def test_the_http_nbn_joins_the_trace_through_traceparent(
    fresh_database: str, tmp_path: Path
) -> None:
    """serve (its worker in-process) calling `cancelgate simulator` over HTTP: the simulator's
    server span is the child of the client span that called it, so `traceparent` went along."""
    client_id, secret, [appointment_id] = seed(fresh_database, scenarios.BOOKED, 1)
    port, sim_port = free_port(), free_port()
    api, sim = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
    with collecting() as collector:
        env = {**simulator_env(fresh_database, sim, tmp_path), **tracing_env(collector)}
        simulate = ["simulator", "--port", str(sim_port)]
        with (
            running(simulate, env, tmp_path / "sim.log", sim + "/healthz") as simulator,
            running(["serve", "--port", str(port)], env, tmp_path / "api.log", api + "/healthz"),
            httpx.Client(base_url=api, timeout=10) as http,
        ):
            headers = {"Authorization": f"Bearer {token_for(api, client_id, secret)}", **VERSION_8}
            posted = http.post(REQUEST, json={"appointmentId": appointment_id}, headers=headers)
            assert posted.status_code == 201, posted.text
            assert poll_outcome(http, posted.headers["location"], headers).status_code == 200

            def called(spans: list[Exported]) -> bool:
                jobs = [span for span in spans if span.name == f"job {SUBMIT_TASK}"]
                return (
                    bool(jobs)
                    and any(s.name == "nbn cancel" for s in spans)
                    and any(
                        s.kind == SERVER and s.parent_span_id in called_from(spans, jobs[0])
                        for s in spans
                    )
                )

            spans = collector.wait_until(called, timeout=20, what="the simulator's spans")
        simulator_pid = simulator.proc.pid

    [job] = [span for span in spans if span.name == f"job {SUBMIT_TASK}"]
    [client] = [s for s in spans if s.span_id in called_from(spans, job)]
    [served] = [s for s in spans if s.parent_span_id == client.span_id]
    assert served.kind == SERVER and served.resource["process.pid"] == simulator_pid
    assert served.trace_id == job.trace_id
    [cancel] = [s for s in spans if s.name == "nbn cancel"]
    assert cancel.parent_span_id == served.span_id
    assert cancel.resource["process.pid"] == simulator_pid


def called_from(spans: list[Exported], job: Exported) -> set[str]:
    """The ids of the job's HTTP client spans (SQL statements are client spans too)."""
    return {
        s.span_id
        for s in spans
        if s.kind == CLIENT and s.parent_span_id == job.span_id and not is_sql(s)
    }
