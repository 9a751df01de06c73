"""Service cancellations go to the nbn at 00:00 on their date, whichever worker is up then."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cancelgate.clock import start_of_day
from cancelgate.upstream.nbn import service_scenarios as sc
from tests.e2e.seeding import seed_services
from tests.support import (
    SYDNEY,
    count,
    free_port,
    poll_outcome,
    query,
    running,
    start,
    sydney_today,
    token_for,
    wait_until,
)

pytestmark = pytest.mark.e2e
BASE = "/api/connect/services/service-cancellations"
# Real seconds from the clock's advance until the tenant's clock reaches midnight.
LEAD_SECONDS = 12.0
CLOCK_ADVANCE = "/api/connect/sandbox/clock/advance"


def nbn_submissions(database_url: str, nbn_service_id: str) -> list[tuple[str, date, datetime]]:
    """(outcome, date, decided_at) of every cancellation the simulated nbn decided for a service."""
    rows = query(
        database_url,
        "SELECT outcome, cancellation_date, decided_at FROM sim_nbn_service_cancellations "
        "WHERE nbn_service_id = %s",
        nbn_service_id,
    )
    return [(r[0], r[1], r[2]) for r in rows]


def wait_for_workers(database_url: str, workers: int) -> None:
    """Until `workers` workers have registered (a worker signalled earlier would just die)."""
    wait_until(
        lambda: count(database_url, "SELECT count(*) FROM procrastinate_workers") >= workers,
        30,
        f"{workers} worker(s) registered",
    )


def wait_for_status(http: httpx.Client, url: str, headers: dict[str, str], status: int) -> None:
    def answers() -> bool:
        return http.get(url, headers=headers).status_code == status

    wait_until(answers, 2 * LEAD_SECONDS, f"{url} answering {status}")


def test_submission_at_midnight_across_a_worker_restart(
    fresh_database: str, tmp_path: Path
) -> None:
    """Requested, rescheduled and aborted while no worker runs; only the first is submitted."""
    client_id, secret, services = seed_services(fresh_database, [sc.ACTIVE] * 3)
    (kept, kept_nbn), (moved, moved_nbn), (aborted, aborted_nbn) = services
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    # The tenant's test clock (the sandbox's) brings the next-but-one Sydney midnight near.
    env = {
        "DATABASE_URL": fresh_database,
        "CANCELGATE_DATA_DIR": str(tmp_path),
        "CANCELGATE_SANDBOX": "true",
    }
    serve = ["serve", "--port", str(port), "--no-worker"]
    with running(serve, env, tmp_path / "api.log", api + "/healthz"):
        first_worker = start(["worker"], env, tmp_path / "w1.log")
        wait_for_workers(fresh_database, 1)
        headers = {
            "Authorization": f"Bearer {token_for(api, client_id, secret)}",
            "X-API-VERSION": "7",
        }
        with httpx.Client(base_url=api, timeout=10) as http:
            midnight = start_of_day(sydney_today() + timedelta(days=2), SYDNEY)
            lead = {"to": (midnight - timedelta(seconds=LEAD_SECONDS)).isoformat()}
            moved_clock = http.post(CLOCK_ADVANCE, json=lead, headers=headers)
            assert moved_clock.status_code == 200, moved_clock.text
            day = midnight.astimezone(SYDNEY).date()
            for service_id in (kept, moved, aborted):
                body = {"serviceId": service_id, "cancellationDate": day.isoformat()}
                response = http.post(f"{BASE}/request", json=body, headers=headers)
                assert response.status_code == 201, response.text
                assert (
                    http.get(f"{BASE}/requests/{service_id}", headers=headers).json()["status"]
                    == "REQUESTED"
                )
            assert first_worker.stop() == 0
            later = (day + timedelta(days=1)).isoformat()
            body = {"serviceId": moved, "cancellationDate": later}
            assert (
                http.post(f"{BASE}/requests/reschedule", json=body, headers=headers).status_code
                == 204
            )
            assert (
                http.post(
                    f"{BASE}/requests/abort", json={"serviceId": aborted}, headers=headers
                ).status_code
                == 204
            )

            # Midnight passes with no worker: the kept request is due (202) but waits.
            wait_for_status(http, f"{BASE}/requests/{kept}", headers, 202)
            assert nbn_submissions(fresh_database, kept_nbn) == []

            with running(["worker"], env, tmp_path / "w2.log", api + "/healthz"):
                outcome = poll_outcome(http, f"{BASE}/requests/{kept}", headers, timeout=30)
                assert outcome.status_code == 200, outcome.text
                assert outcome.json()["status"] == "COMPLETED"
                still = http.get(f"{BASE}/requests/{moved}", headers=headers).json()
                assert (still["status"], still["requestDate"]) == ("REQUESTED", later)
                gone = http.get(f"{BASE}/requests/{aborted}", headers=headers).json()
                assert gone["status"] == "ABORTED"
    [(outcome_name, submitted_date, decided_at)] = nbn_submissions(fresh_database, kept_nbn)
    assert (outcome_name, submitted_date) == ("accepted", day)
    assert decided_at >= midnight  # not before 00:00 on the tenant's clock (its stamp)
    assert nbn_submissions(fresh_database, moved_nbn) == []
    assert nbn_submissions(fresh_database, aborted_nbn) == []
