"""Tracing's in-process pieces, with the SDK's in-memory exporter: log lines carry the trace while
a span is active, a job carries its trace context only while tracing is on, and the worker's
job span continues (or links to) the trace it was deferred in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer, format_span_id, format_trace_id

from cancelgate.logs import configure_logging
from cancelgate.observability import tracing
from cancelgate.upstream.nbn.http import NbnHttpAdapter
from cancelgate.upstream.nbn.port import CancelAccepted


@dataclass
class Spans:
    """Tracing on for a test: the spans it finished, and a tracer to play a request with."""

    exporter: InMemorySpanExporter
    tracer: Tracer

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()


@pytest.fixture
def spans() -> Iterator[Spans]:
    """Tracing on for the test, its spans kept in memory (no SQL spans: no database here)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider, sql=False)
    try:
        yield Spans(exporter, provider.get_tracer("test"))
    finally:
        tracing.uninstall()
        provider.shutdown()


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """The process's logging as `cancelgate serve` configures it; a reader of the lines it wrote.
    structlog's previous configuration is put back afterwards."""
    saved = structlog.get_config()
    configure_logging("INFO", json=True)

    def lines() -> list[dict[str, Any]]:
        out = capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    try:
        yield lines
    finally:
        structlog.configure(**saved)


def ids(span: ReadableSpan) -> tuple[str, str]:
    context = span.get_span_context()
    assert context is not None
    return format_trace_id(context.trace_id), format_span_id(context.span_id)


def traceparent(span: ReadableSpan) -> str:
    """The W3C traceparent naming this span (as its parent)."""
    context = span.get_span_context()
    assert context is not None
    trace_id, span_id = ids(span)
    return f"00-{trace_id}-{span_id}-{context.trace_flags:02x}"


def test_log_lines_carry_the_trace_and_the_request_id_while_a_span_is_active(
    spans: Spans, json_logs: Any
) -> None:
    log = structlog.get_logger("test")
    with structlog.contextvars.bound_contextvars(request_id="req-1"):
        log.info("before")
        with spans.tracer.start_as_current_span("request"):
            log.info("within")
        log.info("after")
    before, within, after = json_logs()
    [request] = spans.finished()
    trace_id, span_id = ids(request)
    assert (within["trace_id"], within["span_id"], within["request_id"]) == (
        trace_id,
        span_id,
        "req-1",
    )
    assert "trace_id" not in before and "trace_id" not in after
    assert before["request_id"] == after["request_id"] == "req-1"


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "false"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ],
)
def test_traces_are_off_unless_the_standard_variables_ask(
    environ: dict[str, str], on: bool
) -> None:
    assert tracing.tracing_requested(environ) is on


@pytest.mark.parametrize("protocol", [None, "http/protobuf"])
def test_otlp_exports_over_http_protobuf_with_or_without_the_protocol_variable(
    protocol: str | None,
) -> None:
    # A process of its own: setting up tracing is once per process.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    if protocol is not None:
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
    script = (
        "from cancelgate.observability import tracing\n"
        "assert tracing.configure_from_environment()\n"
        "processor, = tracing._state.provider._active_span_processor._span_processors\n"
        "print(type(processor.span_exporter).__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "opentelemetry.exporter.otlp.proto.http.trace_exporter"


def test_a_job_carries_nothing_while_tracing_is_off() -> None:
    assert not tracing.tracing_on()
    assert tracing.job_trace() == {}
    assert tracing.job_trace(scheduled=True) == {}


def test_a_job_carries_nothing_outside_a_trace(spans: Spans) -> None:
    assert tracing.job_trace() == {}


def test_a_job_deferred_within_a_span_carries_its_context_and_request_id(
    spans: Spans,
) -> None:
    with (
        structlog.contextvars.bound_contextvars(request_id="req-2"),
        spans.tracer.start_as_current_span("request"),
    ):
        now, later = tracing.job_trace(), tracing.job_trace(scheduled=True)
    [request] = spans.finished()
    assert now == {"_trace": {"traceparent": traceparent(request), "request_id": "req-2"}}
    assert later["_trace"] == {**now["_trace"], "link": True}


def test_a_job_continues_the_trace_it_was_deferred_in(spans: Spans, json_logs: Any) -> None:
    with (
        structlog.contextvars.bound_contextvars(request_id="req-3"),
        spans.tracer.start_as_current_span("request"),
    ):
        carrier = tracing.job_trace()["_trace"]
    # The worker: another task, no span and no request id of its own.
    with tracing.job_span("some.task", carrier, job_id=7, attempts=0):
        structlog.get_logger("test").info("in the job")
    request, job = spans.finished()
    assert job.name == "job some.task" and job.kind == SpanKind.CONSUMER
    assert job.parent is not None and job.parent.span_id == request.context.span_id
    assert job.context.trace_id == request.context.trace_id
    assert job.attributes == {
        "cancelgate.job.task": "some.task",
        "cancelgate.job.id": 7,
        "cancelgate.job.attempts": 0,
    }
    [line] = json_logs()
    assert (line["trace_id"], line["span_id"], line["request_id"]) == (*ids(job), "req-3")


def test_a_job_scheduled_for_later_starts_a_trace_linked_to_the_one_it_was_deferred_in(
    spans: Spans,
) -> None:
    with spans.tracer.start_as_current_span("request"):
        carrier = tracing.job_trace(scheduled=True)["_trace"]
    with tracing.job_span("some.task", carrier, job_id=8, attempts=0):
        pass
    request, job = spans.finished()
    assert job.parent is None
    assert job.context.trace_id != request.context.trace_id
    [link] = job.links
    assert link.context.trace_id == request.context.trace_id
    assert link.context.span_id == request.context.span_id


@pytest.mark.parametrize("carrier", [None, {}, {"traceparent": "garbage"}, "text"])
def test_a_job_without_a_usable_trace_runs_untraced(spans: Spans, carrier: object) -> None:
    with tracing.job_span("some.task", carrier, job_id=9, attempts=0):
        assert tracing.job_trace() == {}
    assert spans.finished() == ()


def test_our_spans_join_a_trace_but_never_start_one(spans: Spans) -> None:
    with tracing.span("alone"):
        pass
    assert spans.finished() == ()
    with spans.tracer.start_as_current_span("request"), tracing.span("inside"):
        pass
    inside, request = spans.finished()
    assert inside.name == "inside"
    assert inside.parent is not None and inside.parent.span_id == request.context.span_id


@contextmanager
def fake_nbn() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """An nbn on 127.0.0.1 that accepts every cancellation: its base URL, and the headers of
    each request it got."""
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append({k.lower(): v for k, v in self.headers.items()})
            body = json.dumps({"cancelledAt": datetime.now(UTC).isoformat()}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


async def test_the_http_nbn_adapter_sends_traceparent_upstream(spans: Spans) -> None:
    with fake_nbn() as (base_url, received):
        adapter = NbnHttpAdapter(base_url, connect_timeout=2, read_timeout=5)
        try:
            with spans.tracer.start_as_current_span("job"):
                outcome = await adapter.cancel(nbn_appointment_id="APT1", request_key="k")
        finally:
            await adapter.close()
    assert isinstance(outcome, CancelAccepted)
    client, job = spans.finished()
    assert client.kind == SpanKind.CLIENT
    assert client.parent is not None and client.parent.span_id == job.context.span_id
    [headers] = received
    assert headers["traceparent"] == traceparent(client)
