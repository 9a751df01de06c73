"""Scale-out: two API processes and two workers on one database; a worker SIGKILLed mid-load;
SIGTERM drains jobs and requests. Every wait is bounded."""

from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from cancelgate.db.urls import libpq_url
from cancelgate.migrate import head_revision
from cancelgate.upstream.csg import scenarios as csg
from cancelgate.upstream.nbn import scenarios
from tests.e2e.seeding import seed, seed_channel, seed_ux
from tests.e2e.test_processes import api_and_simulator, nbn_effective_cancellations
from tests.support import (
    INSTALLATION_BODY,
    REQUEST,
    VERSION_8,
    count,
    drop_database,
    free_port,
    job_counts,
    poll_outcome,
    report,
    running,
    start,
    token_for,
    wait_until,
)

pytestmark = pytest.mark.e2e

CRASH_REQUESTS = 300


def set_fault(sim: str, target: str, **fault: object) -> None:
    httpx.put(f"{sim}/sim/v1/faults/{target}", json=fault).raise_for_status()


def clear_fault(sim: str, target: str) -> None:
    httpx.delete(f"{sim}/sim/v1/faults/{target}").raise_for_status()


def sim_calls(sim: str, target: str) -> int:
    return int(httpx.get(f"{sim}/sim/v1/faults").json()["calls"].get(target, 0))


def duplicate_effective_cancellations(database_url: str) -> int:
    """nbn appointments cancelled more than once (must be none)."""
    return count(
        database_url,
        "SELECT count(*) FROM (SELECT nbn_appointment_id FROM sim_nbn_cancellations "
        "WHERE outcome = 'accepted' GROUP BY nbn_appointment_id HAVING count(*) > 1) d",
    )


def test_worker_killed_under_load_loses_nothing_and_cancels_once(
    fresh_database: str, tmp_path: Path
) -> None:
    """300 cancellations through 2 API processes and 2 workers; SIGKILL one worker mid-way."""
    client_id, secret, ids = seed(fresh_database, scenarios.BOOKED, CRASH_REQUESTS)
    with api_and_simulator(fresh_database, tmp_path, api_workers=2) as top:
        assert httpx.get(top.api + "/readyz").json()["status"] == "ready"
        # Every nbn cancellation takes a while: the kill lands on calls in flight.
        set_fault(top.sim, "nbn-cancel", kind="latency", seconds=0.2)
        doomed = start(["worker", "--concurrency", "10"], top.env, tmp_path / "doomed.log")
        survivor = start(["worker", "--concurrency", "10"], top.env, tmp_path / "survivor.log")
        try:
            headers = {"Authorization": f"Bearer {token_for(top.api, client_id, secret)}"}
            headers |= VERSION_8
            with (
                httpx.Client(base_url=top.api, timeout=30) as http,
                ThreadPoolExecutor(16) as pool,
            ):
                posts = list(
                    pool.map(
                        lambda i: http.post(REQUEST, json={"appointmentId": i}, headers=headers),
                        ids,
                    )
                )
                assert [p.status_code for p in posts] == [201] * CRASH_REQUESTS
                wait_until(
                    lambda: nbn_effective_cancellations(top.sim) >= CRASH_REQUESTS // 4,
                    60,
                    "a quarter of the cancellations done",
                )
                in_flight = job_counts(fresh_database, "appointments.submit_cancellation")
                doomed.stop(signal.SIGKILL)
                outcomes = list(
                    pool.map(
                        lambda p: poll_outcome(http, p.headers["location"], headers, timeout=90),
                        posts,
                    )
                )
        finally:
            survivor.stop()
            doomed.stop(signal.SIGKILL)
        statuses = [o.status_code for o in outcomes]
        effective = nbn_effective_cancellations(top.sim)
        calls = sim_calls(top.sim, "nbn-cancel")
    lost = sum(1 for s in statuses if s != 200)
    duplicates = duplicate_effective_cancellations(fresh_database)
    report(
        requests=CRASH_REQUESTS,
        kills=1,
        doing_at_kill=in_flight.get("doing", 0),
        nbn_calls=calls,
        effective=effective,
        lost=lost,
        duplicates=duplicates,
    )
    assert lost == 0 and all(o.json()["cancelledOn"] for o in outcomes)
    assert effective == CRASH_REQUESTS and duplicates == 0


def test_sigterm_finishes_jobs_in_hand_and_drains_requests(
    fresh_database: str, tmp_path: Path
) -> None:
    """A SIGTERMed worker completes its running jobs; a SIGTERMed API answers its open PATCH."""
    client_id, secret, ids = seed(fresh_database, scenarios.BOOKED, 5)
    (ux_id,) = seed_ux(fresh_database, [csg.INSTALLATION])
    ux_client, ux_secret = seed_channel(fresh_database, "drain")
    with api_and_simulator(fresh_database, tmp_path, api_workers=2) as top:
        set_fault(top.sim, "nbn-cancel", kind="latency", seconds=2)
        worker = start(["worker", "--concurrency", "10"], top.env, tmp_path / "w.log")
        headers = {"Authorization": f"Bearer {token_for(top.api, client_id, secret)}", **VERSION_8}
        with httpx.Client(base_url=top.api, timeout=30) as http:
            for appointment_id in ids:
                body = {"appointmentId": appointment_id}
                assert http.post(REQUEST, json=body, headers=headers).status_code == 201
            wait_until(lambda: sim_calls(top.sim, "nbn-cancel") >= len(ids), 20, "jobs running")
            assert worker.stop(signal.SIGTERM, timeout=25) == 0, worker.output()[-2000:]
            # Nothing was left for another worker: the stopping one finished its jobs.
            assert job_counts(fresh_database, "appointments.submit_cancellation") == {
                "succeeded": len(ids)
            }
            assert nbn_effective_cancellations(top.sim) == len(ids)

        set_fault(top.sim, "csg-cancel", kind="latency", seconds=1.5)
        answer: dict[str, httpx.Response] = {}

        def patch() -> None:
            ux_headers = {
                "client_id": ux_client,
                "client_secret": ux_secret,
                "X-Correlation-ID": "drain-1",
            }
            answer["r"] = httpx.patch(
                f"{top.api}/ecom-ux/v1/PR/appointment/{ux_id}",
                json=INSTALLATION_BODY,
                headers=ux_headers,
                timeout=30,
            )

        caller = threading.Thread(target=patch)
        caller.start()
        wait_until(lambda: sim_calls(top.sim, "csg-cancel") >= 1, 20, "PATCH reached CSG")
        assert top.api_process.stop(signal.SIGTERM, timeout=25) == 0
        caller.join(30)
        assert answer["r"].status_code == 200, answer["r"].text
        assert answer["r"].json() == {"id": ux_id, "status": "cancelled"}
        with pytest.raises(httpx.ConnectError):
            httpx.get(top.api + "/healthz")


def test_readiness_follows_the_database(fresh_database: str, tmp_path: Path) -> None:
    """/readyz: 200 when migrated; 503 on a schema behind the code or a database gone."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": fresh_database, "CANCELGATE_DATA_DIR": str(tmp_path)}
    args = ["serve", "--port", str(port), "--no-worker"]
    with running(args, env, tmp_path / "serve.log", base + "/healthz"):
        ready = httpx.get(base + "/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "database": "ok", "migration": head_revision()}
        with psycopg.connect(libpq_url(fresh_database), autocommit=True) as conn:
            conn.execute("UPDATE alembic_version SET version_num = '0001'")
            stale = httpx.get(base + "/readyz")
            conn.execute("UPDATE alembic_version SET version_num = %s", (head_revision(),))
        assert stale.status_code == 503
        assert stale.json() == {
            "status": "unavailable",
            "migration": "0001",
            "expected": head_revision(),
        }
        assert httpx.get(base + "/readyz").status_code == 200
        drop_database(fresh_database)
        gone = httpx.get(base + "/readyz", timeout=10)
        assert gone.status_code == 503
        assert gone.json() == {"status": "unavailable", "database": "unreachable"}
        assert httpx.get(base + "/healthz").status_code == 200
