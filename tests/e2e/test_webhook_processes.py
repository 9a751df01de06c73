"""Webhooks across processes: a receiver that was down gets all; a killed worker loses nothing."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from cancelgate.upstream.nbn import scenarios
from tests.e2e.seeding import seed
from tests.receiver import receiving
from tests.support import (
    REQUEST,
    SUBSCRIPTIONS,
    VERSION_8,
    free_port,
    poll_outcome,
    poll_until,
    query,
    running,
    start,
    token_for,
    wait_until,
)

pytestmark = pytest.mark.e2e
WEBHOOK_ENV = {
    "CANCELGATE_WEBHOOK_ALLOW_INSECURE": "true",
    "CANCELGATE_WEBHOOK_RETRY_SCHEDULE": "0.5,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1",
    "CANCELGATE_WEBHOOK_TIMEOUT_SECONDS": "10",
}


def delivery_states(database_url: str) -> dict[str, int]:
    rows = query(database_url, "SELECT status, count(*) FROM webhook_deliveries GROUP BY status")
    return {row[0]: int(row[1]) for row in rows}


def cancel_all(http: httpx.Client, headers: dict[str, str], ids: list[int]) -> None:
    for appointment_id in ids:
        response = http.post(REQUEST, json={"appointmentId": appointment_id}, headers=headers)
        assert response.status_code == 201, response.text
        assert poll_outcome(http, response.headers["location"], headers).status_code == 200


def test_receiver_down_while_events_happen_gets_every_one(
    fresh_database: str, tmp_path: Path
) -> None:
    client_id, secret, ids = seed(fresh_database, scenarios.BOOKED, 5)
    port, hook_port = free_port(), free_port()
    api = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": fresh_database, "CANCELGATE_DATA_DIR": str(tmp_path), **WEBHOOK_ENV}
    with running(["serve", "--port", str(port)], env, tmp_path / "api.log", api + "/healthz"):
        headers = {"Authorization": f"Bearer {token_for(api, client_id, secret)}", **VERSION_8}
        with httpx.Client(base_url=api, timeout=10) as http:
            body = {
                "url": f"http://127.0.0.1:{hook_port}/hook",
                "events": ["appointment.cancelled"],
            }
            assert http.post(SUBSCRIPTIONS, json=body, headers=headers).status_code == 201
            cancel_all(http, headers, ids)
            # Nothing listens yet: every delivery fails at least once and stays pending.
            log = poll_until(
                lambda: http.get(f"{SUBSCRIPTIONS}/1/deliveries", headers=headers).json(),
                lambda entries: len(entries) == 5 and all(d["attempts"] for d in entries),
                timeout=15,
                what="5 deliveries each attempted",
            )
            assert all(d["status"] == "pending" and d["attempts"] for d in log)
            with receiving(port=hook_port) as receiver:
                received = receiver.wait_for(5, timeout=30)
    ids_seen = {r.headers["webhook-id"] for r in received}
    assert ids_seen == {d["eventId"] for d in log}
    assert delivery_states(fresh_database) == {"succeeded": 5}


def test_worker_killed_during_delivery_loses_nothing(fresh_database: str, tmp_path: Path) -> None:
    client_id, secret, ids = seed(fresh_database, scenarios.BOOKED, 3)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": fresh_database, "CANCELGATE_DATA_DIR": str(tmp_path), **WEBHOOK_ENV}
    serve = ["serve", "--port", str(port), "--no-worker"]
    with (
        receiving(delay=4.0) as receiver,
        running(serve, env, tmp_path / "api.log", api + "/healthz"),
    ):
        doomed = start(["worker"], env, tmp_path / "doomed.log")
        headers = {"Authorization": f"Bearer {token_for(api, client_id, secret)}", **VERSION_8}
        with httpx.Client(base_url=api, timeout=10) as http:
            body = {"url": receiver.url, "events": ["appointment.cancelled"]}
            assert http.post(SUBSCRIPTIONS, json=body, headers=headers).status_code == 201
            cancel_all(http, headers, ids)
            receiver.wait_for(1, timeout=20)  # the doomed worker is mid-delivery
            doomed.stop(signal.SIGKILL)
            with running(["worker"], env, tmp_path / "rescuer.log", api + "/healthz"):
                wait_until(
                    lambda: delivery_states(fresh_database) == {"succeeded": 3},
                    60,
                    "3 deliveries succeeded",
                )
    assert delivery_states(fresh_database) == {"succeeded": 3}
    event_ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(event_ids) == 3
