"""The sandbox is a property of the installation: a separate worker follows `serve --demo`."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from cancelgate.upstream.nbn import service_scenarios as sc
from tests.e2e.seeding import seed_services
from tests.receiver import receiving
from tests.support import (
    CANCELGATE,
    REQUEST,
    SUBSCRIPTIONS,
    VERSION_8,
    free_port,
    poll_outcome,
    running,
    start,
    sydney_today,
    token_for,
)

pytestmark = pytest.mark.e2e
CLOCK = "/api/connect/sandbox/clock"
SERVICE_REQUEST = "/api/connect/services/service-cancellations/request"
SERVICE_OUTCOME = "/api/connect/services/service-cancellations/requests"
V7 = {"X-API-VERSION": "7"}


def test_a_separate_worker_delivers_to_the_demos_loopback_receiver(
    fresh_database: str, tmp_path: Path
) -> None:
    """`serve --demo --no-worker` and a plain `cancelgate worker` (no sandbox setting of its own):
    the worker delivers to the loopback receiver that the demo's API accepted."""
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": fresh_database, "CANCELGATE_DATA_DIR": str(tmp_path)}
    serve = ["serve", "--demo", "--no-worker", "--port", str(port)]
    with (
        receiving() as receiver,
        running(serve, env, tmp_path / "api.log", api + "/healthz"),
    ):
        worker = start(["worker"], env, tmp_path / "worker.log")
        try:
            demo = json.loads((tmp_path / "demo.json").read_text())
            client = next(c for c in demo["clients"] if c["tenant"] == "demo")
            token = token_for(api, client["client_id"], client["client_secret"])
            headers = {"Authorization": f"Bearer {token}", **VERSION_8}
            with httpx.Client(base_url=api, timeout=10) as http:
                body = {"url": receiver.url, "events": ["appointment.cancelled"]}
                created = http.post(SUBSCRIPTIONS, json=body, headers=headers)
                assert created.status_code == 201, created.text
                body = {"appointmentId": demo["appointments"]["booked"]}
                response = http.post(REQUEST, json=body, headers=headers)
                assert response.status_code == 201, response.text
                outcome = poll_outcome(http, response.headers["location"], headers, timeout=30)
                assert outcome.status_code == 200, outcome.text
                (delivered,) = receiver.wait_for(1, timeout=30)
            assert delivered.headers["z-event-type"] == "appointment.cancelled.event"
        finally:
            worker.stop()


def test_advancing_a_tenants_clock_runs_what_came_due_in_a_separate_worker(
    fresh_database: str, tmp_path: Path
) -> None:
    """A cancellation dated two weeks ahead is submitted once its tenant's clock passes the
    date, by a worker of another process; its webhook fires; another tenant's request for the
    same date waits (`cancelgate sandbox on` turned the sandbox on for both processes)."""
    (client_id, secret, [(mine, _)]) = seed_services(fresh_database, [sc.ACTIVE])
    (other_id, other_secret, [(theirs, _)]) = seed_services(fresh_database, [sc.ACTIVE])
    subprocess.run(
        [CANCELGATE, "sandbox", "on"],
        env={**os.environ, "DATABASE_URL": fresh_database}, check=True, timeout=60,
        capture_output=True,
    )  # fmt: skip
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    env = {
        "DATABASE_URL": fresh_database,
        "CANCELGATE_DATA_DIR": str(tmp_path),
    }
    serve = ["serve", "--no-worker", "--port", str(port)]
    day = (sydney_today() + timedelta(days=14)).isoformat()
    with (
        receiving() as receiver,
        running(serve, env, tmp_path / "api.log", api + "/healthz"),
    ):
        worker = start(["worker"], env, tmp_path / "worker.log")
        try:
            mine_h = {"Authorization": f"Bearer {token_for(api, client_id, secret)}"}
            theirs_h = {"Authorization": f"Bearer {token_for(api, other_id, other_secret)}"}
            with httpx.Client(base_url=api, timeout=10) as http:
                hook = {"url": receiver.url, "events": ["service.cancelled"]}
                hooked = http.post(SUBSCRIPTIONS, json=hook, headers={**mine_h, **VERSION_8})
                assert hooked.status_code == 201, hooked.text
                for headers, service_id in ((mine_h, mine), (theirs_h, theirs)):
                    body = {"serviceId": service_id, "cancellationDate": day}
                    made = http.post(SERVICE_REQUEST, json=body, headers={**headers, **V7})
                    assert made.status_code == 201, made.text
                moved = http.post(
                    f"{CLOCK}/advance", json={"seconds": 15 * 86400},
                    headers={**mine_h, **VERSION_8},
                )  # fmt: skip
                assert moved.status_code == 200, moved.text
                outcome = poll_outcome(
                    http, f"{SERVICE_OUTCOME}/{mine}", {**mine_h, **V7}, timeout=30
                )
                assert outcome.json()["status"] == "COMPLETED", outcome.text
                (delivered,) = receiver.wait_for(1, timeout=30)
                assert delivered.headers["z-event-type"] == "service.cancelled.event"
                waiting = http.get(f"{SERVICE_OUTCOME}/{theirs}", headers={**theirs_h, **V7})
                assert waiting.json()["status"] == "REQUESTED"
        finally:
            worker.stop()
