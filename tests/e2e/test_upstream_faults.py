"""Upstream faults through the HTTP simulator: the nbn and CSG failing, slow, or gone.

One topology for the module (PostgreSQL database, `cancelgate simulator` on a fixed port,
`serve --no-worker` and one `worker`), each test seeding its own tenant. The simulator is
stopped (SIGTERM) and started again on the same port to play a refused connection; the API and
the worker keep running across every outage. Every wait is bounded.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from cancelgate.upstream.csg import scenarios as csg
from cancelgate.upstream.faults import CSG_CANCEL, NBN_CANCEL, NBN_CHECK, NBN_SERVICE_CANCEL
from cancelgate.upstream.nbn import scenarios, service_scenarios
from tests.api.checks import assert_error
from tests.e2e.seeding import seed, seed_channel, seed_services, seed_ux
from tests.e2e.test_processes import simulator_env
from tests.e2e.test_scale_out import clear_fault, set_fault, sim_calls
from tests.support import (
    INSTALLATION_BODY,
    REQUEST,
    SERVICE_REQUEST,
    VERSION_8,
    Process,
    count,
    free_port,
    job_counts,
    location_id,
    migrated_database,
    poll_outcome,
    query,
    report,
    start,
    sydney_today,
    token_for,
    wait_for_http,
    wait_until,
)

pytestmark = pytest.mark.e2e

# Adapters give up after 1 s; the retry budget outlasts any outage played here.
FAULT_ENV = {
    "CANCELGATE_NBN_READ_TIMEOUT_SECONDS": "1",
    "CANCELGATE_CSG_TIMEOUT_SECONDS": "1",
    "CANCELGATE_JOB_MAX_ATTEMPTS": "20",
    "CANCELGATE_JOB_RETRY_BASE_SECONDS": "0.2",
    "CANCELGATE_LOG_LEVEL": "INFO",
}
ADAPTER_TIMEOUT = 1.0
TIMEOUT_LATENCY = 3.0  # a latency past the adapters' timeout: the call times out
SMALL_LATENCY = 0.3  # a latency well within it: the call succeeds, only later

# The faults a test can play on a target; "simulator-down" stops the simulator process.
FAULTS: dict[str, dict[str, object]] = {
    "error-500": {"kind": "error", "status": 500},
    "error-503": {"kind": "error", "status": 503},
    "timeout": {"kind": "latency", "seconds": TIMEOUT_LATENCY},
}
DOWN = "simulator-down"

UPSTREAM_MESSAGE = "There was an unexpected error with one or more of the upstream services"
UX_INTERNAL = {
    "errors": [
        {
            "code": 500,
            "message": "Internal Server Error",
            "description": "The request failed due to an internal error.",
        }
    ]
}
APPOINTMENT_TASK = "appointments.submit_cancellation"
SERVICE_TASK = "services.submit_cancellation"
UX_STATE_CHANGE = "ux.appointment.state-change"
CONNECT = "/api/connect/"
PROCESSING_APPOINTMENTS = 5
PROCESSING_SERVICES = 3


@dataclass
class Simulator:
    """`cancelgate simulator` on a fixed port: stoppable, and started again on the same port.

    Its fault board and call counters live in the process, so a restart clears them; the
    simulated nbn and CSG keep their state in the database.
    """

    port: int
    env: dict[str, str]
    log_dir: Path
    process: Process | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        """The simulator's base URL (the same across restarts)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it and wait (bounded) until it answers."""
        assert self.process is None, "already running"
        self.starts += 1
        log = self.log_dir / f"sim-{self.starts}.log"
        self.process = start(["simulator", "--port", str(self.port)], self.env, log)
        wait_for_http(self.url + "/healthz", timeout=20, proc=self.process.proc)

    def stop(self) -> None:
        """SIGTERM it and check that its port now refuses connections."""
        assert self.process is not None, "not running"
        self.process.stop(signal.SIGTERM, timeout=15)
        self.process = None
        with pytest.raises(httpx.ConnectError):
            httpx.get(self.url + "/healthz", timeout=2)

    @property
    def up(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.proc.poll() is None

    def ensure_up(self) -> None:
        """Start it again unless it runs (a test stopped it, or it died)."""
        if not self.up:
            self.process = None
            self.start()


@dataclass
class Rig:
    """The module's topology: database, restartable simulator, API, worker, a channel client."""

    database_url: str
    api: str
    sim: Simulator
    api_process: Process
    worker: Process
    channel: tuple[str, str] = ("", "")

    def alive(self) -> None:
        """The API and the worker are still the processes started with the module."""
        assert self.api_process.proc.poll() is None, self.api_process.output()[-2000:]
        assert self.worker.proc.poll() is None, self.worker.output()[-2000:]


@dataclass
class Seen:
    """Every response a test's client received: (method, path, status)."""

    responses: list[tuple[str, str, int]] = field(default_factory=list)

    def hook(self, response: httpx.Response) -> None:
        """httpx response hook."""
        self.responses.append(
            (response.request.method, response.request.url.path, response.status_code)
        )

    def connect_server_errors(self) -> list[tuple[str, str, int]]:
        """Connect responses >= 500, except the documented 502 of a POST …/request."""
        return [
            (method, path, status)
            for method, path, status in self.responses
            if path.startswith(CONNECT)
            and status >= 500
            and not (status == 502 and method == "POST" and path == REQUEST)
        ]


@pytest.fixture(scope="module")
def rig(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """A database of the module's own, the simulator, `serve --no-worker` and a worker."""
    with migrated_database(database_url) as url:
        log_dir = tmp_path_factory.mktemp("faults")
        api_port, sim_port = free_port(), free_port()
        api, sim_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{sim_port}"
        env = simulator_env(url, sim_url, log_dir, **FAULT_ENV)
        sim = Simulator(sim_port, env, log_dir)
        processes: list[Process] = []
        try:
            sim.start()
            serve = ["serve", "--port", str(api_port), "--no-worker"]
            api_process = start(serve, env, log_dir / "api.log")
            processes.append(api_process)
            wait_for_http(api + "/healthz", timeout=30, proc=api_process.proc)
            worker = start(["worker", "--concurrency", "10"], env, log_dir / "worker.log")
            processes.append(worker)
            yield Rig(url, api, sim, api_process, worker, seed_channel(url, "faults"))
        finally:
            for process in reversed(processes):
                process.stop()
            if sim.process is not None:
                sim.process.stop()


@pytest.fixture(autouse=True)
def healthy(rig: Rig) -> Iterator[None]:
    """Each test starts and ends with the simulator up, no fault in force, API and worker alive."""
    rig.sim.ensure_up()
    clear_faults(rig)
    yield
    rig.sim.ensure_up()
    clear_faults(rig)
    rig.alive()


def clear_faults(rig: Rig) -> None:
    for target in (NBN_CHECK, NBN_CANCEL, NBN_SERVICE_CANCEL, CSG_CANCEL):
        clear_fault(rig.sim.url, target)


@contextmanager
def upstream_fault(rig: Rig, target: str, fault: str) -> Iterator[None]:
    """A fault in force on target for the block (or the simulator stopped), cleared after."""
    if fault == DOWN:
        rig.sim.stop()
        try:
            yield
        finally:
            rig.sim.start()
        return
    set_fault(rig.sim.url, target, **FAULTS[fault])
    try:
        yield
    finally:
        clear_fault(rig.sim.url, target)


@contextmanager
def connect_client(rig: Rig, client_id: str, secret: str) -> Iterator[tuple[httpx.Client, Seen]]:
    """A Connect client with a token (headers preset) whose every response is recorded."""
    seen = Seen()
    headers = {"Authorization": f"Bearer {token_for(rig.api, client_id, secret)}", **VERSION_8}
    with httpx.Client(
        base_url=rig.api, timeout=30, headers=headers, event_hooks={"response": [seen.hook]}
    ) as http:
        yield http, seen


def job_attempts(database_url: str, task: str, cancellation_ids: list[int]) -> dict[int, int]:
    """procrastinate's `attempts` of each cancellation's job: +1 per retry, +1 when it ends."""
    rows = query(
        database_url,
        "SELECT (args->>'cancellation_id')::int, attempts FROM procrastinate_jobs "
        "WHERE task_name = %s AND (args->>'cancellation_id')::int = ANY(%s) ORDER BY id",
        task,
        cancellation_ids,
    )
    return {int(cid): int(attempts) for cid, attempts in rows}


def effective_cancellations(sim_url: str, nbn_appointment_id: str) -> int:
    """The nbn's accepted cancellations of one appointment (its idempotency record)."""
    stats = httpx.get(f"{sim_url}/nbn/v1/stats", params={"nbn_appointment_id": nbn_appointment_id})
    return int(stats.json()["effectiveCancellations"])


# (a) The appointment pre-check is synchronous: an nbn fault is the caller's 502, nothing stored.


@pytest.mark.parametrize("fault", ["error-500", "error-503", "timeout", DOWN])
def test_appointment_request_is_502_while_the_nbn_check_fails(rig: Rig, fault: str) -> None:
    """nbn-check 500/503, timing out, or refused: 502 remote.call.error, no row and no job."""
    client_id, secret, ids = seed(rig.database_url, scenarios.BOOKED, 2)
    jobs_before = sum(job_counts(rig.database_url, APPOINTMENT_TASK).values())
    calls_before = sim_calls(rig.sim.url, NBN_CHECK)
    with connect_client(rig, client_id, secret) as (http, seen):
        answers: list[tuple[httpx.Response, float]] = []
        with upstream_fault(rig, NBN_CHECK, fault):
            for appointment_id in ids:
                began = time.monotonic()
                response = http.post(REQUEST, json={"appointmentId": appointment_id})
                answers.append((response, time.monotonic() - began))
            jobs_during = sum(job_counts(rig.database_url, APPOINTMENT_TASK).values())
            check_calls = (
                None if fault == DOWN else sim_calls(rig.sim.url, NBN_CHECK) - calls_before
            )
        rows = count(
            rig.database_url,
            "SELECT count(*) FROM appointment_cancellations WHERE appointment_id = ANY(%s)",
            ids,
        )
        statuses = query(
            rig.database_url, "SELECT status FROM appointments WHERE id = ANY(%s)", ids
        )
        # Nothing was left behind: once the nbn answers, the same request is accepted.
        recovered = http.post(REQUEST, json={"appointmentId": ids[0]})
        assert recovered.status_code == 201, recovered.text
        outcome = poll_outcome(http, recovered.headers["location"], {}, timeout=20)
    report(
        test="nbn-check",
        fault=fault,
        requests=len(ids),
        check_calls=check_calls,
        statuses=[r.status_code for r, _ in answers],
        slowest_s=round(max(t for _, t in answers), 2),
        rows=rows,
        jobs_added=jobs_during - jobs_before,
        recovered=(recovered.status_code, outcome.status_code),
    )
    for response, elapsed in answers:
        body = assert_error(response, 502, "remote.call", "remote.call.error", UPSTREAM_MESSAGE)
        assert body["apiSubErrors"] == []
        # A timeout is the adapter's (1 s), not the simulator's latency (3 s).
        assert elapsed < TIMEOUT_LATENCY - 0.5, elapsed
        if fault == "timeout":
            assert elapsed >= ADAPTER_TIMEOUT * 0.9, elapsed
    if check_calls is not None:
        assert check_calls >= len(ids)
    assert rows == 0 and jobs_during == jobs_before
    assert {s for (s,) in statuses} == {"booked"}
    assert outcome.status_code == 200, outcome.text
    assert seen.connect_server_errors() == []


def test_appointment_request_with_a_slow_nbn_check_is_201(rig: Rig) -> None:
    """A pre-check well within the timeout (0.3 s) only delays the 201."""
    client_id, secret, ids = seed(rig.database_url, scenarios.BOOKED, 2)
    with connect_client(rig, client_id, secret) as (http, seen):
        set_fault(rig.sim.url, NBN_CHECK, kind="latency", seconds=SMALL_LATENCY)
        timings: list[float] = []
        locations: list[str] = []
        for appointment_id in ids:
            began = time.monotonic()
            response = http.post(REQUEST, json={"appointmentId": appointment_id})
            timings.append(time.monotonic() - began)
            assert response.status_code == 201, response.text
            locations.append(response.headers["location"])
        outcomes = [poll_outcome(http, location, {}, timeout=20) for location in locations]
    report(
        test="nbn-check",
        fault="latency-0.3s",
        requests=len(ids),
        post_s=[round(t, 2) for t in timings],
        outcomes=[o.status_code for o in outcomes],
    )
    assert all(t >= SMALL_LATENCY for t in timings), timings
    assert [o.status_code for o in outcomes] == [200] * len(ids)
    assert seen.connect_server_errors() == []


# (b) Processing: the worker's nbn cancellation retries with backoff until the nbn is back.


@pytest.mark.parametrize("fault", ["error-503", "timeout", DOWN])
def test_processing_retries_through_an_nbn_cancel_outage(rig: Rig, fault: str) -> None:
    """202 while nbn-cancel fails; the jobs retry; after recovery 200 and one cancellation each."""
    client_id, secret, ids = seed(rig.database_url, scenarios.BOOKED, PROCESSING_APPOINTMENTS)
    n = len(ids)
    began = time.monotonic()
    calls_before = sim_calls(rig.sim.url, NBN_CANCEL)
    # The simulator down from the start would refuse the pre-check too: the jobs meet a 503
    # first, and the simulator is stopped while they retry.
    set_fault(rig.sim.url, NBN_CANCEL, **FAULTS["error-503" if fault == DOWN else fault])
    with connect_client(rig, client_id, secret) as (http, seen):
        posts = [http.post(REQUEST, json={"appointmentId": i}) for i in ids]
        assert [p.status_code for p in posts] == [201] * n, [p.text for p in posts]
        locations = [p.headers["location"] for p in posts]
        cancellation_ids = [location_id(location) for location in locations]

        def retried(at_least: dict[int, int]) -> bool:
            attempts = job_attempts(rig.database_url, APPOINTMENT_TASK, cancellation_ids)
            return len(attempts) == n and all(
                attempts[c] > at_least.get(c, 0) for c in cancellation_ids
            )

        zero: dict[int, int] = {}
        if fault == DOWN:
            wait_until(
                lambda: sim_calls(rig.sim.url, NBN_CANCEL) - calls_before >= n,
                15,
                "every job called the failing nbn",
            )
            rig.sim.stop()
            stopped = job_attempts(rig.database_url, APPOINTMENT_TASK, cancellation_ids)
            # Every job failed again against the refused connection, and was kept for a retry.
            wait_until(lambda: retried(stopped), 20, "every job retried while the nbn is down")
        else:
            wait_until(
                lambda: sim_calls(rig.sim.url, NBN_CANCEL) - calls_before >= 2 * n,
                20,
                "the nbn called again by retries",
            )
            wait_until(lambda: retried(zero), 20, "every job retried")
        during = [http.get(location) for location in locations]
        jobs_during = job_counts(rig.database_url, APPOINTMENT_TASK)
        outage_calls = None if fault == DOWN else sim_calls(rig.sim.url, NBN_CANCEL) - calls_before
        outage_s = time.monotonic() - began
        if fault == DOWN:
            rig.sim.start()  # a new process: its call counter starts again at 0
            calls_at_recovery = 0
        else:
            clear_fault(rig.sim.url, NBN_CANCEL)
            calls_at_recovery = sim_calls(rig.sim.url, NBN_CANCEL)
        recovered_at = time.monotonic()
        outcomes = [poll_outcome(http, location, {}, timeout=30) for location in locations]
        recovery_s = time.monotonic() - recovered_at
    calls_after = sim_calls(rig.sim.url, NBN_CANCEL) - calls_at_recovery
    # A finished job's attempts count its successful run too.
    retries = {
        c: a - 1
        for c, a in job_attempts(rig.database_url, APPOINTMENT_TASK, cancellation_ids).items()
    }
    effective = [
        effective_cancellations(rig.sim.url, o.json()["nbnAppointmentId"])
        for o in outcomes
        if o.status_code == 200
    ]
    report(
        test="nbn-cancel",
        fault=fault,
        requests=n,
        nbn_calls_during_outage=outage_calls,
        nbn_calls_after_recovery=calls_after,
        retries=sum(retries.values()),
        retries_per_job=sorted(retries.values()),
        during=sorted({r.status_code for r in during}),
        jobs_during=jobs_during,
        outcomes=[o.status_code for o in outcomes],
        effective=sum(effective),
        outage_s=round(outage_s, 1),
        recovery_s=round(recovery_s, 1),
    )
    for response in during:
        assert response.status_code == 202, response.text
        assert response.headers["retry-after"]
    assert len(retries) == n and all(r >= 1 for r in retries.values()), retries
    if outage_calls is not None:
        assert outage_calls > n
    assert [o.status_code for o in outcomes] == [200] * n, [o.text for o in outcomes]
    assert all(o.json()["cancelledOn"] for o in outcomes)
    assert effective == [1] * n
    ended = query(
        rig.database_url,
        "SELECT DISTINCT status::text FROM procrastinate_jobs "
        "WHERE task_name = %s AND (args->>'cancellation_id')::int = ANY(%s)",
        APPOINTMENT_TASK,
        cancellation_ids,
    )
    assert ended == [("succeeded",)], ended
    assert seen.connect_server_errors() == []


# (c) Service cancellation submission: IN_ERROR_RETRY while the nbn fails, then COMPLETED.


def test_service_submission_retries_through_an_nbn_outage(rig: Rig) -> None:
    """nbn-service-cancel 503: IN_ERROR_RETRY (GET 202), then COMPLETED, one cancellation each."""
    kinds = [service_scenarios.ACTIVE] * PROCESSING_SERVICES
    client_id, secret, services = seed_services(rig.database_url, kinds)
    service_ids = [service_id for service_id, _ in services]
    calls_before = sim_calls(rig.sim.url, NBN_SERVICE_CANCEL)
    set_fault(rig.sim.url, NBN_SERVICE_CANCEL, **FAULTS["error-503"])
    with connect_client(rig, client_id, secret) as (http, seen):
        v7 = {"X-API-VERSION": "7"}
        today = sydney_today().isoformat()
        locations: list[str] = []
        for service_id in service_ids:
            body = {"serviceId": service_id, "cancellationDate": today}
            response = http.post(SERVICE_REQUEST, json=body, headers=v7)
            assert response.status_code == 201, response.text
            locations.append(response.headers["location"])

        def shown(service_id: int) -> dict[str, Any]:
            answer = http.get(f"/api/connect/services/{service_id}")
            assert answer.status_code == 200, answer.text
            summary: dict[str, Any] = answer.json()["serviceCancellation"]
            return summary

        def all_retrying() -> bool:
            return all(shown(s)["status"] == "IN_ERROR_RETRY" for s in service_ids)

        wait_until(all_retrying, 15, "every submission IN_ERROR_RETRY")
        wait_until(
            lambda: (
                sim_calls(rig.sim.url, NBN_SERVICE_CANCEL) - calls_before >= 2 * len(service_ids)
            ),
            20,
            "every submission resubmitted",
        )
        retrying = [shown(s) for s in service_ids]
        during = [http.get(location, headers=v7) for location in locations]
        outage_calls = sim_calls(rig.sim.url, NBN_SERVICE_CANCEL) - calls_before
        clear_fault(rig.sim.url, NBN_SERVICE_CANCEL)
        recovered_at = time.monotonic()
        outcomes = [poll_outcome(http, location, v7, timeout=30) for location in locations]
        recovery_s = time.monotonic() - recovered_at
    nbn_ids = [nbn_id for _, nbn_id in services]
    effective = dict(
        query(
            rig.database_url,
            "SELECT nbn_service_id, count(*) FROM sim_nbn_service_cancellations "
            "WHERE outcome = 'accepted' AND nbn_service_id = ANY(%s) GROUP BY nbn_service_id",
            nbn_ids,
        )
    )
    attempts = query(
        rig.database_url,
        "SELECT attempts, status, submission_job_id FROM service_cancellations "
        "WHERE service_id = ANY(%s) ORDER BY service_id",
        service_ids,
    )
    events = count(
        rig.database_url,
        "SELECT count(*) FROM events WHERE type = 'service.cancelled' AND model = 'service' "
        "AND subject_id = ANY(%s)",
        service_ids,
    )
    # Every submission job of these cancellations (one per (re)submission), by status.
    job_statuses = dict(
        query(
            rig.database_url,
            "SELECT j.status::text, count(*) FROM procrastinate_jobs j "
            "JOIN service_cancellations c ON (j.args->>'cancellation_id')::int = c.id "
            "WHERE j.task_name = %s AND c.service_id = ANY(%s) GROUP BY j.status",
            SERVICE_TASK,
            service_ids,
        )
    )
    report(
        test="nbn-service-cancel",
        fault="error-503",
        requests=len(service_ids),
        nbn_calls_during_outage=outage_calls,
        retries=[a for a, _, _ in attempts],
        during=sorted({r.status_code for r in during}),
        outcomes=[(o.status_code, o.json().get("status")) for o in outcomes],
        effective=sum(int(v) for v in effective.values()),
        events=events,
        jobs=job_statuses,
        recovery_s=round(recovery_s, 1),
    )
    for summary in retrying:
        assert summary["status"] in ("IN_ERROR_RETRY", "IN_PROGRESS"), summary
        assert summary["canRequestCancellation"] is False
        assert summary["canAbortCancellation"] is False
    assert all(r.status_code == 202 for r in during), [r.status_code for r in during]
    assert outage_calls >= 2 * len(service_ids)
    for outcome in outcomes:
        assert outcome.status_code == 200, outcome.text
        body = outcome.json()
        assert body["status"] == "COMPLETED" and body["cancelled"] is True
        assert body["errorDetail"] is None and body["cancelledOn"]
    assert {k: int(v) for k, v in effective.items()} == dict.fromkeys(nbn_ids, 1)
    assert all(status == "COMPLETED" and job is None for _, status, job in attempts)
    assert all(a >= 1 for a, _, _ in attempts)
    assert events == len(service_ids) and "todo" not in job_statuses
    assert seen.connect_server_errors() == []
    # The job that completed the submission did its work: it must end succeeded, not failed.
    assert set(job_statuses) == {"succeeded"}, job_statuses


# (d) The UX PATCH calls CSG synchronously: a fault is a 500 in the UX envelope, nothing kept.


@pytest.mark.parametrize("fault", ["error-503", "timeout", DOWN])
def test_ux_patch_is_500_while_csg_fails_and_200_after(rig: Rig, fault: str) -> None:
    """csg-cancel 503, timing out, or refused: 500 envelope, correlation id echoed, nothing kept."""
    (appointment_id,) = seed_ux(rig.database_url, [csg.INSTALLATION])
    client_id, client_secret = rig.channel
    correlation = f"faults-{uuid.uuid4()}"
    headers = {
        "client_id": client_id,
        "client_secret": client_secret,
        "X-Correlation-ID": correlation,
    }
    path = f"/ecom-ux/v1/PR/appointment/{appointment_id}"
    calls_before = sim_calls(rig.sim.url, CSG_CANCEL)

    def local() -> tuple[str, int]:
        [(status, events)] = query(
            rig.database_url,
            "SELECT a.status, (SELECT count(*) FROM events e WHERE e.type = %s "
            "AND e.model = 'appointment' AND e.subject_id = a.id) "
            "FROM ux_appointments a WHERE a.business_id = 'PR' AND a.appointment_id = %s",
            UX_STATE_CHANGE,
            appointment_id,
        )
        return str(status), int(events)

    with httpx.Client(base_url=rig.api, timeout=30) as http:
        with upstream_fault(rig, CSG_CANCEL, fault):
            began = time.monotonic()
            failed = http.patch(path, json=INSTALLATION_BODY, headers=headers)
            elapsed = time.monotonic() - began
            csg_calls = None if fault == DOWN else sim_calls(rig.sim.url, CSG_CANCEL) - calls_before
            after_failure = local()
        recovered = http.patch(path, json=INSTALLATION_BODY, headers=headers)
    final = local()
    warnings = [
        json.loads(line)
        for line in rig.api_process.output().splitlines()
        if '"csg_unavailable"' in line and correlation in line
    ]
    report(
        test="csg-cancel",
        fault=fault,
        requests=2,
        csg_calls_during_fault=csg_calls,
        failed=failed.status_code,
        failed_s=round(elapsed, 2),
        recovered=recovered.status_code,
        local_after_failure=after_failure,
        local_final=final,
        logged_warnings=len(warnings),
    )
    assert failed.status_code == 500, failed.text
    assert failed.headers["content-type"] == "application/json"
    assert failed.json() == UX_INTERNAL
    assert failed.headers["x-correlation-id"] == correlation
    assert elapsed < TIMEOUT_LATENCY - 0.5, elapsed
    if fault == "timeout":
        assert elapsed >= ADAPTER_TIMEOUT * 0.9, elapsed
    if csg_calls is not None:
        assert csg_calls >= 1
    assert after_failure == ("confirmed", 0)
    assert len(warnings) >= 1 and all(w["correlation_id"] == correlation for w in warnings)
    assert recovered.status_code == 200, recovered.text
    assert recovered.json() == {"id": appointment_id, "status": "cancelled"}
    assert recovered.headers["x-correlation-id"] == correlation
    assert final == ("cancelled", 1)
