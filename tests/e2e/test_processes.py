"""Real processes on 127.0.0.1: serve, worker and the nbn simulator over HTTP; crash; embedded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.upstream.csg import scenarios as csg_scenarios
from cancelgate.upstream.nbn import scenarios, service_scenarios
from tests.e2e.seeding import seed, seed_services
from tests.support import (
    CANCELGATE,
    INSTALLATION_BODY,
    REQUEST,
    SERVICE_REQUEST,
    VERSION_8,
    Process,
    free_port,
    job_counts,
    poll_outcome,
    running,
    start,
    sydney_today,
    token_for,
    wait_until,
)

pytestmark = pytest.mark.e2e


def nbn_effective_cancellations(sim_url: str) -> int:
    return int(httpx.get(f"{sim_url}/nbn/v1/stats").json()["effectiveCancellations"])


@dataclass
class Topology:
    """A running simulator and API (no in-process worker), and the env their peers need."""

    api: str
    sim: str
    env: dict[str, str]
    api_process: Process


def simulator_env(database_url: str, sim_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The env of processes on database_url whose nbn and CSG are the HTTP simulator at sim_url."""
    return {
        "DATABASE_URL": database_url,
        "CANCELGATE_NBN_MODE": "http",
        "CANCELGATE_NBN_BASE_URL": sim_url,
        "CANCELGATE_CSG_MODE": "http",
        "CANCELGATE_CSG_BASE_URL": sim_url,
        "CANCELGATE_DATA_DIR": str(data_dir),
        **extra,
    }


@contextmanager
def api_and_simulator(
    database_url: str, tmp_path: Path, *, api_workers: int = 1, **extra_env: str
) -> Iterator[Topology]:
    """`cancelgate simulator` (nbn and CSG) and `cancelgate serve --no-worker` using it."""
    api_port, sim_port = free_port(), free_port()
    api, sim = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{sim_port}"
    env = simulator_env(database_url, sim, tmp_path, **extra_env)
    serve = ["serve", "--port", str(api_port), "--no-worker", "--workers", str(api_workers)]
    with (
        running(
            ["simulator", "--port", str(sim_port)], env, tmp_path / "sim.log", sim + "/healthz"
        ),
        running(serve, env, tmp_path / "api.log", api + "/healthz") as api_process,
    ):
        yield Topology(api, sim, env, api_process)


def test_api_worker_and_simulator_processes(fresh_database: str, tmp_path: Path) -> None:
    """serve --no-worker + worker + simulator: the HTTP adapter and the queue, for real."""
    client_id, secret, ids = seed(fresh_database, scenarios.BOOKED, 5)
    with (
        api_and_simulator(fresh_database, tmp_path) as top,
        running(
            ["worker", "--concurrency", "4"], top.env, tmp_path / "w.log", top.sim + "/healthz"
        ),
    ):
        api, sim = top.api, top.sim
        headers = {"Authorization": f"Bearer {token_for(api, client_id, secret)}", **VERSION_8}
        with httpx.Client(base_url=api, timeout=10) as http:
            locations = []
            for appointment_id in ids:
                response = http.post(
                    REQUEST, json={"appointmentId": appointment_id}, headers=headers
                )
                assert response.status_code == 201, response.text
                locations.append(response.headers["location"])
            for location in locations:
                assert poll_outcome(http, location, headers).status_code == 200
        assert nbn_effective_cancellations(sim) == 5


def test_service_cancellations_through_the_http_simulator(
    fresh_database: str, tmp_path: Path
) -> None:
    """Submission over HTTP: completed, rejected (422 outcome), and a 503 retried to success."""
    kinds = [
        service_scenarios.ACTIVE,
        service_scenarios.REJECTED_BY_NBN,
        service_scenarios.NBN_FLAKY,
    ]
    client_id, secret, services = seed_services(fresh_database, kinds)
    with (
        api_and_simulator(fresh_database, tmp_path) as top,
        running(["worker"], top.env, tmp_path / "w.log", top.sim + "/healthz"),
    ):
        token = token_for(top.api, client_id, secret)
        headers = {"Authorization": f"Bearer {token}", "X-API-VERSION": "7"}
        today = sydney_today().isoformat()
        with httpx.Client(base_url=top.api, timeout=10) as http:
            outcomes = []
            for service_id, _nbn_id in services:
                body = {"serviceId": service_id, "cancellationDate": today}
                response = http.post(SERVICE_REQUEST, json=body, headers=headers)
                assert response.status_code == 201, response.text
                outcomes.append(poll_outcome(http, response.headers["location"], headers))
        completed, rejected, flaky = outcomes
        assert completed.status_code == 200 and completed.json()["status"] == "COMPLETED"
        assert rejected.status_code == 422
        assert (
            rejected.json()["apiSubErrors"][0]["code"]
            == "constraints.service-cancellation.rejected"
        )
        assert flaky.status_code == 200 and flaky.json()["status"] == "COMPLETED"


def test_killed_worker_job_is_retried_by_another(fresh_database: str, tmp_path: Path) -> None:
    """SIGKILL a worker in the middle of slow jobs: a second worker finishes them, once each."""
    task = "appointments.submit_cancellation"
    client_id, secret, ids = seed(fresh_database, scenarios.BOOKED_SLOW, 6)
    with api_and_simulator(fresh_database, tmp_path, CANCELGATE_SIM_SLOW_SECONDS="4") as top:
        api, sim, env = top.api, top.sim, top.env
        doomed = start(["worker", "--concurrency", "10"], env, tmp_path / "doomed.log")
        headers = {"Authorization": f"Bearer {token_for(api, client_id, secret)}", **VERSION_8}
        with httpx.Client(base_url=api, timeout=10) as http:
            locations = [
                http.post(REQUEST, json={"appointmentId": i}, headers=headers).headers["location"]
                for i in ids
            ]
            # Wait until the doomed worker holds the jobs (the simulator is mid-way through them).
            wait_until(lambda: "doing" in job_counts(fresh_database, task), 15, "a job doing")
            assert "doing" in job_counts(fresh_database, task)
            doomed.stop(signal.SIGKILL)
            with running(["worker"], env, tmp_path / "rescuer.log", sim + "/healthz"):
                for location in locations:
                    outcome = poll_outcome(http, location, headers, timeout=60)
                    assert outcome.status_code == 200, outcome.text
        assert nbn_effective_cancellations(sim) == len(ids)


def test_embedded_default_starts_migrates_and_serves(tmp_path: Path) -> None:
    """No DATABASE_URL: serve --demo runs its own PostgreSQL and the README example works."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": "", "CANCELGATE_DATABASE_URL": ""}
    data_dir = tmp_path / "data"
    args = ["serve", "--demo", "--port", str(port), "--data-dir", str(data_dir)]
    with running(args, env, tmp_path / "serve.log", base + "/healthz") as process:
        demo = json.loads((data_dir / "demo.json").read_text())
        assert demo["base_url"] == base and demo["token_url"] == base + "/oauth/token"
        assert {c["tenant"] for c in demo["clients"]} == {"demo", "other"}
        assert set(demo["appointments"]) == set(scenarios.SCENARIOS)
        assert set(demo["services"]) == set(service_scenarios.SCENARIOS)
        assert set(demo["ux"]) == set(csg_scenarios.SCENARIOS)
        client = next(c for c in demo["clients"] if c["tenant"] == "demo")
        headers = {
            "Authorization": "Bearer "
            + token_for(base, client["client_id"], client["client_secret"]),
            **VERSION_8,
        }
        with httpx.Client(base_url=base, timeout=10) as http:
            response = http.post(
                REQUEST, json={"appointmentId": demo["appointments"]["booked"]}, headers=headers
            )
            assert response.status_code == 201
            assert poll_outcome(http, response.headers["location"], headers).status_code == 200
            other = http.post(
                REQUEST, json={"appointmentId": demo["appointments"]["other-tenant"]},
                headers=headers,
            )  # fmt: skip
            assert other.status_code == 404
            v7 = {**headers, "X-API-VERSION": "7"}
            active = demo["services"]["active"]
            body = {"serviceId": active, "cancellationDate": sydney_today().isoformat()}
            response = http.post(SERVICE_REQUEST, json=body, headers=v7)
            assert response.status_code == 201
            outcome = poll_outcome(http, response.headers["location"], v7)
            assert outcome.json()["status"] == "COMPLETED"
            install = demo["ux"]["installation"]
            ux_headers = {**demo["ux_client"], "X-Correlation-ID": "demo-1"}
            response = http.patch(
                f"/ecom-ux/v1/{install['businessId']}/appointment/{install['id']}",
                json=INSTALLATION_BODY,
                headers=ux_headers,
            )
            assert response.json() == {"id": install["id"], "status": "cancelled"}
        assert client["client_secret"] in process.output()
    assert (data_dir / "pgdata" / "PG_VERSION").exists()

    # Seeding again is idempotent: same clients and secrets; the used fixture is replaced.
    # Two API processes share the one embedded server.
    two = [*args, "--workers", "2"]
    with running(two, env, tmp_path / "serve2.log", base + "/healthz"):
        again = json.loads((data_dir / "demo.json").read_text())
        assert httpx.get(base + "/readyz").json()["status"] == "ready"
    assert again["clients"] == demo["clients"]
    assert again["appointments"]["complete"] == demo["appointments"]["complete"]
    assert again["appointments"]["booked"] != demo["appointments"]["booked"]
    assert again["services"]["active"] != demo["services"]["active"]
    assert again["ux_client"] == demo["ux_client"]
    assert again["ux"]["installation"] != demo["ux"]["installation"]
    assert again["ux"]["technical"] == demo["ux"]["technical"]
    unused = set(service_scenarios.SCENARIOS) - {"active"}
    assert {k: again["services"][k] for k in unused} == {k: demo["services"][k] for k in unused}


def test_clients_create_prints_working_credentials(database_url: str, tmp_path: Path) -> None:
    env_db = {"DATABASE_URL": database_url}
    result = subprocess.run(
        [CANCELGATE, "clients", "create", "--tenant", f"cli-{time.time_ns()}"],
        env={**os.environ, **env_db}, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    created = json.loads(result.stdout)
    assert set(created) == {"client_id", "client_secret", "tenant"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(
        ["serve", "--port", str(port), "--no-worker"], env_db, tmp_path / "s.log", base + "/healthz"
    ):
        assert token_for(base, created["client_id"], created["client_secret"])
    bad = subprocess.run(
        [CANCELGATE, "clients", "create", "--tenant", "x", "--jwks-file", str(tmp_path / "none")],
        env={**os.environ, **env_db}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode != 0


def test_public_base_url_pins_the_assertion_audience(database_url: str, tmp_path: Path) -> None:
    """With CANCELGATE_PUBLIC_BASE_URL set, a Host header cannot choose the accepted `aud`."""
    from cancelgate.auth.clients import create_client
    from cancelgate.keys import instance_keys_in
    from tests.api.conftest import CLIENT_KEY
    from tests.api.test_oauth import assertion, jwt_form
    from tests.e2e.seeding import in_session

    async def make(session: AsyncSession) -> str:
        keys = await instance_keys_in(session)
        jwks = {"keys": [CLIENT_KEY.as_dict(private=False)]}
        created = await create_client(
            session, keys.pepper, tenant=f"pub-{time.time_ns()}", jwks=jwks
        )
        return created.client_id

    client_id = in_session(database_url, make)
    public = "https://api.example.net"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": database_url, "CANCELGATE_PUBLIC_BASE_URL": public}
    args = ["serve", "--port", str(port), "--no-worker"]
    with (
        running(args, env, tmp_path / "s.log", base + "/healthz"),
        httpx.Client(base_url=base) as http,
    ):
        for audience in (public + "/oauth/token", public):
            ok = http.post("/oauth/token", data=jwt_form(assertion(client_id, audience)))
            assert ok.status_code == 200, ok.text
        for audience, host in (
            ("http://elsewhere.example/oauth/token", "elsewhere.example"),
            (base + "/oauth/token", None),
        ):
            headers = {"Host": host} if host else {}
            form = jwt_form(assertion(client_id, audience))
            refused = http.post("/oauth/token", data=form, headers=headers)
            assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        metadata = http.get(
            "/.well-known/oauth-authorization-server", headers={"Host": "elsewhere.example"}
        ).json()
        assert metadata["issuer"] == public
        assert metadata["token_endpoint"] == public + "/oauth/token"
