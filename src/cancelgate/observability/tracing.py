"""OpenTelemetry traces: off unless the standard `OTEL_*` variables ask for them.

One trace per cancellation: the request's server span, the job it deferred (the W3C trace
context travels in the job's kwargs under `_trace` and the worker starts `job <task>` as its
child), the nbn or CSG call (a span of ours around the simulators; the HTTP adapters' client
spans send `traceparent` upstream), each event recorded, and each webhook attempt.

Setup happens once per process (`configure_from_environment`, called by the API and the
`worker` command) and only when `OTEL_TRACES_EXPORTER` names an exporter and
`OTEL_SDK_DISABLED` is not true; everything else (exporter, endpoint, protocol, headers,
sampler, batch delays, resource attributes) is the SDK's own reading of its variables. While
tracing is off every function here is a no-op and nothing is added to a job.

The module imports only the OpenTelemetry API; the SDK and the instrumentations are imported
when tracing is set up.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import structlog
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, format_span_id, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from cancelgate import __version__

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from structlog.typing import EventDict, WrappedLogger

P = ParamSpec("P")
T = TypeVar("T")

# The job kwarg that carries the trace context of whoever deferred the job (popped by the task
# wrapper: task functions never see it).
TRACE_KWARG = "_trace"
DEFAULT_SERVICE_NAME = "cancelgate"
# Probes and scrapes make no traces (regexes searched in the request's URL, query excluded).
UNTRACED_URLS = "/healthz$,/readyz$,/metrics$"
# Only W3C Trace Context is stored with a job, whatever OTEL_PROPAGATORS says for HTTP.
_W3C = TraceContextTextMapPropagator()


@dataclass
class _Tracing:
    """This process's tracing: the provider spans go to, or None while tracing is off."""

    provider: TracerProvider | None = None
    tracer: trace.Tracer | None = None
    sql: bool = False


_state = _Tracing()


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard variables ask for traces: `OTEL_TRACES_EXPORTER` names an exporter
    (not `none`) and `OTEL_SDK_DISABLED` is not `true`. Unset means off (the specification's
    default exporter would be `otlp`; cancelgate exports nothing unless asked)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() not in ("", "none")


def tracing_on() -> bool:
    """Whether this process records spans."""
    return _state.tracer is not None


def configure_from_environment() -> bool:
    """Set up tracing for this process as the `OTEL_*` variables say, once; whether it is on.

    `OTEL_TRACES_EXPORTER=otlp` with `OTEL_EXPORTER_OTLP_PROTOCOL` (or `…_TRACES_PROTOCOL`)
    `http/protobuf` exports to `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; with no protocol
    given it is `http/protobuf` too (the specification's default; the gRPC exporter is not
    installed). `OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=psycopg` leaves out the SQL spans.
    """
    if _state.provider is not None:
        return True
    if not tracing_requested():
        return False
    from opentelemetry.sdk._configuration import _get_exporter_names, _import_exporters
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    names = _get_exporter_names("traces")  # the SDK's reading of exporter and protocol
    protocol_given = any(
        os.environ.get(name)
        for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
    )
    if not protocol_given:
        names = ["otlp_proto_http" if name == "otlp_proto_grpc" else name for name in names]
    exporters, _, _ = _import_exporters(names, [], [])
    # Ours first, then what OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES say over it.
    resource = Resource.create(
        {"service.name": DEFAULT_SERVICE_NAME, "process.pid": os.getpid()}
    ).merge(OTELResourceDetector().detect())
    # The sampler (OTEL_TRACES_SAMPLER), span limits and batching (OTEL_BSP_*) from the SDK.
    provider = TracerProvider(resource=resource)
    for exporter in exporters.values():
        provider.add_span_processor(BatchSpanProcessor(exporter()))
    disabled = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
    install(provider, sql="psycopg" not in {name.strip() for name in disabled.split(",")})
    # For any library that asks the global provider.
    trace.set_tracer_provider(provider)
    return True


def install(provider: TracerProvider, *, sql: bool = True) -> None:
    """Record spans with `provider` from now on (tests install one with an in-memory exporter).
    `sql`: a span per SQL statement, for psycopg connections opened from now on."""
    _state.provider = provider
    _state.tracer = provider.get_tracer("cancelgate", __version__)
    if sql and not _state.sql:
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

        PsycopgInstrumentor().instrument(tracer_provider=_ChildSpansOnlyProvider(provider))
        _state.sql = True


def uninstall() -> None:
    """Stop recording spans (connections opened meanwhile keep their SQL spans)."""
    if _state.sql:
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

        PsycopgInstrumentor().uninstrument()
    _state.provider, _state.tracer, _state.sql = None, None, False


def shutdown() -> None:
    """Export what is buffered and stop (the end of a process)."""
    if _state.provider is not None:
        _state.provider.shutdown()


def instrument_app(app: FastAPI) -> None:
    """A server span per request (probes and `/metrics` excepted), continuing the caller's
    trace if it sent `traceparent`."""
    if _state.provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    excluded = ",".join(
        filter(None, [UNTRACED_URLS, os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS")])
    )
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_state.provider,
        excluded_urls=excluded,
        # No span per ASGI message: the request's span is enough.
        exclude_spans=["receive", "send"],
    )


def instrument_http(client: httpx.AsyncClient) -> None:
    """A client span per request of an upstream adapter, and `traceparent` sent with it.

    Not for webhooks: their receivers are tenants, who get no view of our traces.
    """
    if _state.provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=_state.provider)


def tag_request(request_id: str) -> None:
    """Put the request id on the request's server span: a trace is found by the X-Request-ID a
    caller got back."""
    if _state.tracer is not None:
        trace.get_current_span().set_attribute("cancelgate.request_id", request_id)


def _in_a_trace() -> bool:
    return trace.get_current_span().get_span_context().is_valid


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Iterator[Span]:
    """A span of ours within the current trace (none outside a request or a traced job, nor
    while tracing is off: then the span yielded records nothing)."""
    tracer = _state.tracer
    if tracer is None or not _in_a_trace():
        yield trace.INVALID_SPAN
        return
    with tracer.start_as_current_span(name, kind=kind, attributes=attributes) as current:
        yield current


def traced(
    name: str,
    *,
    kind: SpanKind = SpanKind.CLIENT,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """A coroutine function that runs in a span of its own (see `span`): a call to an upstream
    by default."""

    def decorate(
        function: Callable[P, Coroutine[Any, Any, T]],
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(function)
        async def run(*args: P.args, **kwargs: P.kwargs) -> T:
            if _state.tracer is None:
                return await function(*args, **kwargs)
            with span(name, kind=kind, attributes=attributes):
                return await function(*args, **kwargs)

        return run

    return decorate


def job_trace(*, scheduled: bool = False) -> dict[str, Any]:
    """The kwargs that a job deferred now adds to carry the current trace: `{}` while tracing is
    off or outside a trace, else `{"_trace": {"traceparent": …, "tracestate"?: …,
    "request_id"?: …, "link"?: true}}`. A job scheduled for later (`scheduled`) will start a
    trace of its own, linked to this one, rather than stretch this one over hours or days."""
    if _state.tracer is None:
        return {}
    carrier: dict[str, Any] = {}
    _W3C.inject(carrier)
    if "traceparent" not in carrier:
        return {}
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id is not None:
        carrier["request_id"] = request_id
    if scheduled:
        carrier["link"] = True
    return {TRACE_KWARG: carrier}


@contextmanager
def job_span(
    task_name: str, carrier: object, *, job_id: int | None, attempts: int
) -> Iterator[None]:
    """Run a job in span `job <task>`, the child of the span that deferred it (or, for a job
    scheduled for later, a new trace linked to it), with the request id of the request that
    caused it on every log line. A job that carries no trace runs untraced."""
    tracer = _state.tracer
    if tracer is None or not isinstance(carrier, dict):
        yield
        return
    headers = {k: v for k, v in carrier.items() if k in ("traceparent", "tracestate")}
    extracted = _W3C.extract(headers)
    remote = trace.get_current_span(extracted).get_span_context()
    if not remote.is_valid:
        yield
        return
    link = carrier.get("link") is True
    parent = Context() if link else extracted
    attributes: dict[str, AttributeValue] = {
        "cancelgate.job.task": task_name,
        "cancelgate.job.attempts": attempts,
    }
    if job_id is not None:
        attributes["cancelgate.job.id"] = job_id
    request_id = carrier.get("request_id")
    bound = {"request_id": request_id} if isinstance(request_id, str) else {}
    with (
        structlog.contextvars.bound_contextvars(**bound),
        tracer.start_as_current_span(
            f"job {task_name}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=[Link(remote)] if link else None,
        ),
    ):
        yield


def add_trace_ids(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: `trace_id` and `span_id` on every line logged within a span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format_trace_id(context.trace_id))
        event_dict.setdefault("span_id", format_span_id(context.span_id))
    return event_dict


class _ChildSpansOnly(trace.Tracer):
    """A tracer that makes spans only within a trace: a statement is part of a request's or a
    job's trace, never a trace of its own (the worker's polling and heartbeats make none)."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(
        self, name: str, context: Context | None = None, *args: Any, **kwargs: Any
    ) -> Span:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return trace.INVALID_SPAN
        return self._tracer.start_span(name, context, *args, **kwargs)

    @contextmanager
    def start_as_current_span(  # type: ignore[override]  # the API's own context manager type
        self, name: str, context: Context | None = None, *args: Any, **kwargs: Any
    ) -> Iterator[Span]:
        if not trace.get_current_span(context).get_span_context().is_valid:
            yield trace.INVALID_SPAN
            return
        with self._tracer.start_as_current_span(name, context, *args, **kwargs) as current:
            try:
                yield current
            finally:
                _name_by_statement(current)


def _name_by_statement(span: Span) -> None:
    """Name a statement's span by its first word (`SELECT`, `BEGIN`, …), as the instrumentation
    does only for SQL given as text: ours is bytes, compiled once (it would be the database's
    name). The statement is an attribute by now; the span has not ended yet."""
    attributes = getattr(span, "attributes", None) or {}
    statement = attributes.get("db.statement") or attributes.get("db.query.text")
    if isinstance(statement, str) and (words := statement.split(None, 1)):
        span.update_name(words[0].upper())


class _ChildSpansOnlyProvider(trace.TracerProvider):
    """Hands out `_ChildSpansOnly` tracers of a provider."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace.Tracer:
        return _ChildSpansOnly(
            self._provider.get_tracer(
                instrumenting_module_name, instrumenting_library_version, schema_url, attributes
            )
        )
