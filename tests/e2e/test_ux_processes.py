"""The UX API against CSG over HTTP (the simulator process), and channel clients from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from cancelgate.upstream.csg import scenarios as csg
from tests.e2e.seeding import seed_ux
from tests.e2e.test_processes import api_and_simulator
from tests.support import CANCELGATE, INSTALLATION_BODY, query

pytestmark = pytest.mark.e2e


def csg_correlation(database_url: str, appointment_id: str) -> str | None:
    sql = "SELECT last_correlation_id FROM sim_csg_appointments WHERE appointment_id = %s"
    rows = query(database_url, sql, appointment_id)
    return None if not rows else rows[0][0]


def test_ux_cancel_through_the_csg_simulator(fresh_database: str, tmp_path: Path) -> None:
    """CLI channel client; 200 with the correlation id at CSG; 500 on outage and on timeout."""
    created = subprocess.run(
        [CANCELGATE, "channel-clients", "create", "--business-units", "pr", "--name", "web"],
        env={**os.environ, "DATABASE_URL": fresh_database},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    client = json.loads(created.stdout)
    assert client["business_units"] == ["PR"]
    ok, down, slow = seed_ux(fresh_database, [csg.INSTALLATION, csg.CSG_UNAVAILABLE, csg.CSG_SLOW])
    with (
        api_and_simulator(
            fresh_database,
            tmp_path,
            CANCELGATE_CSG_TIMEOUT_SECONDS="1",
            CANCELGATE_SIM_CSG_SLOW_SECONDS="3",
        ) as top,
        httpx.Client(base_url=top.api, timeout=30) as http,
    ):
        answers = {}
        for appointment_id in (ok, down, slow):
            correlation = str(uuid.uuid4())
            headers = {
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
                "X-Correlation-ID": correlation,
            }
            response = http.patch(
                f"/ecom-ux/v1/PR/appointment/{appointment_id}",
                json=INSTALLATION_BODY,
                headers=headers,
            )
            assert response.headers["x-correlation-id"] == correlation
            answers[appointment_id] = (response.status_code, correlation)
        log = (tmp_path / "api.log").read_text()
    assert answers[ok][0] == 200
    assert csg_correlation(fresh_database, ok) == answers[ok][1]
    assert answers[down][0] == answers[slow][0] == 500
    # The warning logged for each failure carries the request's correlation id.
    failures = [json.loads(line) for line in log.splitlines() if '"csg_unavailable"' in line]
    assert {f["correlation_id"] for f in failures} == {answers[down][1], answers[slow][1]}
