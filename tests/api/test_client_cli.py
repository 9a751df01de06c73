"""`cancelgate client …` as a user runs it: the real console script against a real server.

Every command runs as its own process with the profile in environment variables (or a config
file, or a demo file); independent commands run side by side to keep the file quick.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cancelgate.upstream.csg.scenarios import SEED_BILLING_ACCOUNT
from tests.api.conftest import CLIENT_KEY, Caller, Channel
from tests.receiver import receiving
from tests.support import (
    CANCELGATE,
    REQUESTS,
    SERVICE_REQUESTS,
    clean_env,
    free_port,
    in_days,
    location_id,
    sydney_today,
)

TIMEOUT = 60.0
# What `progress_line` prints before each pause when stderr is not a terminal.
PROGRESS = re.compile(r"^. in progress: \d+ poll\(s\), \d+\.\d s, next in \d+\.\d s$")
JWT = re.compile(r"^[\w-]+\.[\w-]+\.[\w-]+$")


@dataclass(frozen=True)
class Run:
    """How one `cancelgate client …` process ended."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def progress(self) -> list[str]:
        return [line for line in self.err.splitlines() if PROGRESS.match(line)]

    def __str__(self) -> str:
        return f"{' '.join(self.args)} -> {self.code}\nstdout: {self.out}\nstderr: {self.err}"


Command = tuple[dict[str, str], list[str]]


def profile_env(
    tmp_path: Path,
    base_url: str,
    caller: Caller | None = None,
    channel: Channel | None = None,
    **extra: str,
) -> dict[str, str]:
    """A profile given by environment variables alone."""
    env = clean_env(tmp_path)
    env["CANCELGATE_URL"] = base_url
    if caller is not None:
        env["CANCELGATE_CLIENT_ID"] = caller.client_id
        env["CANCELGATE_CLIENT_SECRET"] = caller.client_secret
    if channel is not None:
        env["CANCELGATE_UX_CLIENT_ID"] = channel.client_id
        env["CANCELGATE_UX_CLIENT_SECRET"] = channel.client_secret
    env.update(extra)
    return env


def run(env: dict[str, str], *args: object) -> Run:
    """One `cancelgate client <args>`, to its end."""
    argv = [str(a) for a in args]
    done = subprocess.run(
        [CANCELGATE, "client", *argv], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    return Run(tuple(argv), done.returncode, done.stdout, done.stderr)


def run_all(*commands: Command) -> list[Run]:
    """Several `cancelgate client …` side by side; their results in the same order."""
    started: list[tuple[list[str], subprocess.Popen[str]]] = []
    try:
        for env, args in commands:
            proc = subprocess.Popen(
                [CANCELGATE, "client", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            started.append((args, proc))
        results = []
        for args, proc in started:
            out, err = proc.communicate(timeout=TIMEOUT)
            results.append(Run(tuple(args), proc.returncode, out, err))
        return results
    finally:
        for _, proc in started:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)


def created_location(result: Run) -> str:
    """The Location of a `201 Created: <location>` (or `204 No Content: …`) first line."""
    first = result.out.splitlines()[0]
    match = re.fullmatch(r"20[14] (?:Created|No Content): (\S+)", first)
    assert match, result
    return match.group(1)


# --- tokens -------------------------------------------------------------------------------


async def test_token_prints_the_jwt_or_json(
    api_server: str, caller: Caller, tmp_path: Path
) -> None:
    env = profile_env(tmp_path, api_server, caller)
    plain, as_json = run_all((env, ["token"]), (env, ["--json", "token"]))
    assert plain.code == 0, plain
    assert JWT.match(plain.out.strip()), plain
    assert len(plain.out.splitlines()) == 1
    assert re.search(r"expires in \d+ s", plain.err), plain
    assert as_json.code == 0, as_json
    body = as_json.json()
    assert JWT.match(body["access_token"])
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert as_json.err == ""
    # The printed token is a real one.
    for token in (plain.out.strip(), body["access_token"]):
        answer = await caller.http.get(
            "/api/connect/webhooks/subscriptions",
            headers={"Authorization": f"Bearer {token}", "X-API-VERSION": "8"},
        )
        assert answer.status_code == 200, answer.text


async def test_private_key_jwt_profile(api_server: str, jwt_client: str, tmp_path: Path) -> None:
    pem = tmp_path / "client-key.pem"
    pem.write_bytes(CLIENT_KEY.as_pem(private=True))
    env = profile_env(
        tmp_path,
        api_server,
        CANCELGATE_CLIENT_ID=jwt_client,
        CANCELGATE_PRIVATE_KEY_FILE=str(pem),
        CANCELGATE_KEY_ID="client-key-1",
    )
    # A secret alongside is ignored: the key file wins.
    with_secret = {**env, "CANCELGATE_CLIENT_SECRET": "not-the-secret"}
    missing_key = {**env, "CANCELGATE_PRIVATE_KEY_FILE": str(tmp_path / "nowhere.pem")}
    signed, signed_again, no_key = run_all(
        (env, ["--json", "token"]), (with_secret, ["token"]), (missing_key, ["token"])
    )
    assert signed.code == 0, signed
    assert JWT.match(signed.json()["access_token"])
    assert signed_again.code == 0, signed_again
    assert JWT.match(signed_again.out.strip())
    assert no_key.code == 2, no_key
    assert "bad credentials in the profile" in no_key.err
    assert no_key.out == ""


# --- appointment cancellations ------------------------------------------------------------


async def test_cancel_then_status_by_location_and_by_id(
    api_server: str, caller: Caller, tmp_path: Path
) -> None:
    env = profile_env(tmp_path, api_server, caller)
    appointment = await caller.appointment("booked")
    cancelled = run(env, "appointments", "cancel", appointment.id)
    assert cancelled.code == 0, cancelled
    location = created_location(cancelled)
    assert re.fullmatch(rf"{re.escape(api_server)}{REQUESTS}/\d+", location), location
    assert cancelled.out.startswith("201 Created: ")
    assert re.search(r"^  idempotency_key: [0-9a-f-]{36}$", cancelled.out, re.M), cancelled
    request_id = location_id(location)

    waited = run(env, "appointments", "status", location, "--wait")
    assert waited.code == 0, waited
    lines = waited.out.splitlines()
    assert lines[0] == "AppointmentCancellation", waited
    assert f"  id: {request_id}" in lines
    assert f"  appointment_id: {appointment.id}" in lines
    assert f"  nbn_appointment_id: {appointment.nbn_appointment_id}" in lines
    assert not any(line.startswith("  raw") for line in lines)

    relative = REQUESTS + f"/{request_id}"
    by_id, by_path = run_all(
        (env, ["--json", "appointments", "status", str(request_id)]),
        (env, ["appointments", "status", relative]),
    )
    assert by_id.code == 0, by_id
    body = by_id.json()
    assert list(body) == ["id", "appointmentId", "nbnAppointmentId", "cancelledOn", "requestedOn"]
    assert (body["id"], body["appointmentId"]) == (request_id, appointment.id)
    assert by_path.code == 0 and f"  id: {request_id}" in by_path.out.splitlines(), by_path


async def test_cancel_and_wait(api_server: str, caller: Caller, tmp_path: Path) -> None:
    env = profile_env(tmp_path, api_server, caller)
    booked = await caller.appointment("booked")
    slow = await caller.appointment("booked-slow")
    slow_quiet = await caller.appointment("booked-slow")
    slow_json = await caller.appointment("booked-slow")
    slow_plain = await caller.appointment("booked-slow")
    slow_held = await caller.appointment("booked-slow")
    # --long-poll 0: the server answers each poll at once, so there are 202s to show.
    plain = ["--long-poll", "0"]
    quick, progress, quiet, timed_out, timed_out_plain, held = run_all(
        (env, ["appointments", "cancel", str(booked.id), "--wait"]),
        (env, [*plain, "appointments", "cancel", str(slow.id), "--wait"]),
        (env, [*plain, "--quiet", "appointments", "cancel", str(slow_quiet.id), "--wait"]),
        (
            env,
            ["--json", "appointments", "cancel", str(slow_json.id), "--wait", "--timeout", "0.3"],
        ),
        (env, ["appointments", "cancel", str(slow_plain.id), "--wait", "--timeout", "0.3"]),
        (env, ["appointments", "cancel", str(slow_held.id), "--wait"]),
    )
    assert quick.code == 0, quick
    assert quick.out.splitlines()[0] == "AppointmentCancellation", quick
    assert f"  appointment_id: {booked.id}" in quick.out.splitlines()
    assert re.search(r"^  cancelled_on: \d{4}-\d\d-\d\dT", quick.out, re.M), quick

    assert progress.code == 0, progress
    assert f"  appointment_id: {slow.id}" in progress.out.splitlines()
    lines = progress.progress()
    assert lines, progress
    assert lines[0].startswith("⠋ in progress: 1 poll(s), ")
    # A line per poll, numbered in order (stderr is not a terminal here).
    polls = [int(re.findall(r"(\d+) poll", line)[0]) for line in lines]
    assert polls == list(range(1, len(lines) + 1))
    assert "\r" not in progress.err and "\033[" not in progress.err

    assert quiet.code == 0, quiet
    assert f"  appointment_id: {slow_quiet.id}" in quiet.out.splitlines()
    assert quiet.err == ""

    assert timed_out.code == 7, timed_out
    body = timed_out.json()
    assert set(body) == {"timeout", "location"}
    assert body["timeout"].startswith("still in progress after ")
    assert re.fullmatch(rf"{re.escape(api_server)}{REQUESTS}/\d+", body["location"])
    assert timed_out.err == ""  # no progress lines with --json

    assert timed_out_plain.code == 7, timed_out_plain
    assert timed_out_plain.out == ""
    assert "error: still in progress after " in timed_out_plain.err
    assert REQUESTS in timed_out_plain.err

    # Long polling (the default): one poll, held until the outcome, so no 202 to show.
    assert held.code == 0, held
    assert f"  appointment_id: {slow_held.id}" in held.out.splitlines()
    assert held.err == "", held

    # The Location of the timeout is the one to wait on later.
    later = run(env, "--json", "appointments", "status", body["location"], "--wait")
    assert later.code == 0, later
    assert later.json()["appointmentId"] == slow_json.id

    negative = run(env, "--long-poll", "-1", "appointments", "status", str(slow_json.id))
    assert negative.code == 2 and "--long-poll" in negative.err, negative


async def test_appointment_failures_and_their_exit_codes(
    api_server: str, caller: Caller, other_caller: Caller, tmp_path: Path
) -> None:
    env = profile_env(tmp_path, api_server, caller)
    complete = await caller.appointment("complete")
    failing = await caller.appointment("fails-in-processing")
    unavailable = await caller.appointment("upstream-unavailable")
    booked = await caller.appointment("booked")
    foreign = await other_caller.appointment("booked")
    version_99 = {**env, "CANCELGATE_API_VERSION": "99"}
    (
        refused,
        refused_json,
        failed_outcome,
        upstream,
        not_found,
        bad_version,
        bad_version_env,
    ) = run_all(
        (env, ["appointments", "cancel", str(complete.id)]),
        (env, ["--json", "appointments", "cancel", str(complete.id)]),
        (env, ["appointments", "cancel", str(failing.id), "--wait"]),
        (env, ["appointments", "cancel", str(unavailable.id)]),
        (env, ["--json", "appointments", "cancel", str(foreign.id)]),
        (env, ["--json", "appointments", "cancel", str(booked.id), "--api-version", "99"]),
        (version_99, ["appointments", "status", "1"]),
    )
    assert refused.code == 3, refused
    assert refused.out == ""
    assert refused.err.startswith("error: 422: ")
    assert "constraints.appointment.not.booked" in refused.err, refused

    assert refused_json.code == 3, refused_json
    body = refused_json.json()
    assert set(body) == {"status", "error"} and body["status"] == 422
    assert body["error"]["httpStatusCode"] == 422
    [sub_error] = body["error"]["apiSubErrors"]
    assert sub_error["code"] == "constraints.appointment.not.booked"
    assert sub_error["rejectedValue"] == "complete"
    assert refused_json.err == ""

    assert failed_outcome.code == 3, failed_outcome
    assert "constraints.appointment-cancellation.failed" in failed_outcome.err

    assert upstream.code == 1, upstream
    assert "502" in upstream.err and "remote.call.error" in upstream.err, upstream

    assert not_found.code == 4, not_found
    assert not_found.json()["status"] == 404
    assert not_found.json()["error"]["code"] == "resource.not.found"

    assert bad_version.code == 3, bad_version
    assert bad_version.json()["status"] == 400
    assert bad_version.json()["error"]["code"] == "unsupported.api.version"
    assert "99" in bad_version.json()["error"]["message"]

    assert bad_version_env.code == 3, bad_version_env
    assert "unsupported.api.version" in bad_version_env.err


async def test_credentials_transport_and_missing_server(
    api_server: str, caller: Caller, tmp_path: Path
) -> None:
    wrong = profile_env(
        tmp_path, api_server, caller, CANCELGATE_CLIENT_SECRET="definitely-not-the-secret"
    )
    env = profile_env(tmp_path, api_server, caller)
    nothing = clean_env(tmp_path)
    nowhere = f"http://127.0.0.1:{free_port()}"
    unauthorized, unauthorized_json, transport, transport_json, no_server, no_server_json = run_all(
        (wrong, ["token"]),
        (wrong, ["--json", "appointments", "cancel", "1"]),
        (env, ["--url", nowhere, "token"]),
        (env, ["--json", "--url", nowhere, "appointments", "status", "1"]),
        (nothing, ["token"]),
        (nothing, ["--json", "appointments", "cancel", "1"]),
    )
    assert unauthorized.code == 6, unauthorized
    assert unauthorized.out == ""
    assert "invalid_client" in unauthorized.err

    assert unauthorized_json.code == 6, unauthorized_json
    body = unauthorized_json.json()
    assert body["status"] == 401
    assert body["error"]["error"] == "invalid_client"

    assert transport.code == 5, transport
    assert transport.out == ""
    assert transport.err.startswith("error: POST ") and nowhere in transport.err

    assert transport_json.code == 5, transport_json
    assert list(transport_json.json()) == ["transport"]
    assert nowhere in transport_json.json()["transport"]

    for result in (no_server, no_server_json):
        assert result.code == 2, result
        assert result.out == ""
        assert "no server" in result.err and "CANCELGATE_URL" in result.err


# --- service cancellations ----------------------------------------------------------------


async def test_service_commands(api_server: str, caller: Caller, tmp_path: Path) -> None:
    env = profile_env(tmp_path, api_server, caller)
    requested = await caller.service("cancellation-requested")
    to_submit = await caller.service("cancellation-requested")
    active = await caller.service("active")
    active_later = await caller.service("active")
    not_eligible = await caller.service("not-eligible")
    rejected = await caller.service("rejected-by-nbn")
    moved_to = in_days(20)
    now = sydney_today().isoformat()
    rescheduled, submitted, cancelled_now, created, refused, rejected_outcome = run_all(
        (env, ["services", "reschedule", str(requested.id), "--date", moved_to]),
        (env, ["services", "submit", str(to_submit.id), "--wait"]),
        (env, ["services", "cancel", str(active.id), "--date", now, "--wait"]),
        (env, ["--json", "services", "cancel", str(active_later.id), "--date", in_days(10)]),
        (env, ["services", "cancel", str(not_eligible.id), "--date", in_days(10)]),
        (env, ["--json", "services", "cancel", str(rejected.id), "--date", now, "--wait"]),
    )
    assert rescheduled.code == 0, rescheduled
    assert rescheduled.out.startswith("204 No Content: ")
    assert created_location(rescheduled) == f"{api_server}{SERVICE_REQUESTS}/{requested.id}"

    for result, service_id in ((submitted, to_submit.id), (cancelled_now, active.id)):
        assert result.code == 0, result
        lines = result.out.splitlines()
        assert lines[0] == "ServiceCancellation", result
        assert f"  service_id: {service_id}" in lines
        assert "  status: COMPLETED" in lines
        assert "  cancelled: True" in lines

    assert created.code == 0, created
    accepted = created.json()
    assert accepted["status"] == 201
    assert accepted["location"] == f"{api_server}{SERVICE_REQUESTS}/{active_later.id}"
    assert accepted["replayed"] is False and accepted["idempotency_key"]

    assert refused.code == 3, refused
    assert "constraints.service.not.eligible.for.cancellation" in refused.err

    assert rejected_outcome.code == 3, rejected_outcome
    body = rejected_outcome.json()
    assert body["status"] == 422
    assert body["error"]["apiSubErrors"][0]["code"] == "constraints.service-cancellation.rejected"

    status_json, status_plain, shown, shown_json = run_all(
        (env, ["--json", "services", "status", str(requested.id)]),
        (env, ["services", "status", str(active_later.id)]),
        (env, ["services", "show", str(active.id)]),
        (env, ["--json", "services", "show", str(active_later.id), "--api-version", "7"]),
    )
    assert status_json.code == 0, status_json
    resource = status_json.json()
    assert (resource["serviceId"], resource["status"]) == (requested.id, "REQUESTED")
    assert resource["requestDate"] == moved_to

    assert status_plain.code == 0, status_plain
    assert "  status: REQUESTED" in status_plain.out.splitlines()
    assert f"  request_date: {in_days(10)}" in status_plain.out.splitlines()

    assert shown.code == 0, shown
    lines = shown.out.splitlines()
    assert lines[0] == "Service", shown
    assert f"  id: {active.id}" in lines
    [nested] = [line for line in lines if line.startswith("  service_cancellation: ")]
    assert "status=COMPLETED" in nested and f"service_id={active.id}" in nested

    assert shown_json.code == 0, shown_json
    service = shown_json.json()
    assert service["id"] == active_later.id
    assert service["serviceCancellation"]["status"] == "REQUESTED"

    aborted = run(env, "services", "abort", requested.id, "--wait")
    assert aborted.code == 0, aborted
    assert "  status: ABORTED" in aborted.out.splitlines(), aborted
    assert f"  service_id: {requested.id}" in aborted.out.splitlines()


# --- UX API -------------------------------------------------------------------------------


async def test_ux_cancel(api_server: str, channel: Channel, tmp_path: Path) -> None:
    env = profile_env(tmp_path, api_server, channel=channel)
    wrong = {**env, "CANCELGATE_UX_CLIENT_SECRET": "not-the-channel-secret"}
    installation = await channel.appointment("installation")
    technical = await channel.appointment("technical")
    completed = await channel.appointment("completed")
    unavailable = await channel.appointment("csg-unavailable")
    other = await channel.appointment("installation")
    correlation = str(uuid.uuid4())
    install = ["--order-class", "S", "--billing-account", SEED_BILLING_ACCOUNT]
    traced = ["--correlation-id", correlation]
    ok_s, ok_t, refused, down, unauthorized = run_all(
        (env, ["ux", "cancel", "PR", installation.appointment_id, *install, *traced]),
        (env, ["--json", "ux", "cancel", "PR", technical.appointment_id, "--order-class", "T"]),
        (env, ["ux", "cancel", "PR", completed.appointment_id, *install]),
        (env, ["--json", "ux", "cancel", "PR", unavailable.appointment_id, *install]),
        (wrong, ["ux", "cancel", "PR", other.appointment_id, *install]),
    )
    assert ok_s.code == 0, ok_s
    assert ok_s.out.splitlines() == [
        "UxCancellation",
        f"  id: {installation.appointment_id}",
        "  status: cancelled",
        f"  correlation_id: {correlation}",
    ]
    sim = await channel.sim(installation)
    assert (sim.status, sim.last_correlation_id) == ("cancelled", correlation)

    assert ok_t.code == 0, ok_t
    body = ok_t.json()
    # The server's JSON, as it answered.
    assert body == {"id": technical.appointment_id, "status": "cancelled"}

    assert refused.code == 3, refused
    assert "is completed and cannot be cancelled" in refused.err

    assert down.code == 1, down
    error = down.json()
    assert error["status"] == 500
    assert error["error"]["errors"][0]["code"] == 500

    assert unauthorized.code == 6, unauthorized
    assert "401" in unauthorized.err
    assert (await channel.sim(other)).status != "cancelled"


# --- webhooks -----------------------------------------------------------------------------


async def test_webhook_commands(api_server: str, caller: Caller, tmp_path: Path) -> None:
    env = profile_env(tmp_path, api_server, caller)
    with receiving() as hook:
        create = run(
            env,
            "--json",
            "webhooks",
            "create",
            hook.url,
            "--event",
            "appointment.cancelled",
            "--event",
            "service.cancelled",
            "--description",
            "from the cli",
        )
        assert create.code == 0, create
        subscription = create.json()
        assert subscription["secret"].startswith("whsec_")
        assert subscription["events"] == ["appointment.cancelled", "service.cancelled"]
        assert (subscription["url"], subscription["description"]) == (hook.url, "from the cli")
        sid = subscription["id"]

        listed, tested = run_all(
            (env, ["webhooks", "list"]), (env, ["--json", "webhooks", "test", str(sid)])
        )
        assert listed.code == 0, listed
        lines = listed.out.splitlines()
        assert lines[0] == "Subscription"
        assert f"  id: {sid}" in lines and f"  url: {hook.url}" in lines
        assert "  events: appointment.cancelled, service.cancelled" in lines
        assert "  secret: -" in lines  # never shown again
        assert tested.code == 0, tested
        delivery = tested.json()
        assert delivery["eventType"] == "webhook.test"
        [first] = hook.wait_for(1)
        assert first.headers["webhook-id"] == delivery["eventId"]

        deliveries = run(env, "webhooks", "deliveries", sid)
        assert deliveries.code == 0, deliveries
        assert deliveries.out.splitlines()[0] == "Delivery"
        assert f"  id: {delivery['id']}" in deliveries.out.splitlines()
        assert "  event_type: webhook.test" in deliveries.out.splitlines()

        redelivered = run(env, "--json", "webhooks", "redeliver", sid, delivery["id"])
        assert redelivered.code == 0, redelivered
        assert redelivered.json()["eventId"] == delivery["eventId"]
        requests = hook.wait_for(2)
        assert requests[1].headers["webhook-id"] == delivery["eventId"]

        deleted, deleted_json = run_all(
            (env, ["webhooks", "delete", str(sid)]),
            (env, ["--json", "webhooks", "delete", "999999999"]),
        )
        assert deleted.code == 0, deleted
        assert deleted.out.strip() == f"deleted subscription {sid}"
        assert deleted_json.code == 4, deleted_json
        assert deleted_json.json()["status"] == 404

        empty, empty_json, gone = run_all(
            (env, ["webhooks", "list"]),
            (env, ["--json", "webhooks", "list"]),
            (env, ["webhooks", "deliveries", str(sid)]),
        )
        assert (empty.code, empty.out.strip()) == (0, "(none)"), empty
        assert (empty_json.code, empty_json.json()) == (0, []), empty_json
        assert gone.code == 4, gone


# --- profiles -----------------------------------------------------------------------------


async def test_config_file_profiles(api_server: str, caller: Caller, tmp_path: Path) -> None:
    config = tmp_path / "client.toml"
    config.write_text(
        f"""
[default]
base_url = "http://127.0.0.1:9"
client_id = "nobody"
client_secret = "nothing"

[staging]
base_url = "{api_server}"
client_id = "{caller.client_id}"
client_secret = "a-stale-secret"
api_version = 8
"""
    )
    # The file's secret is stale; the environment's wins, setting by setting.
    env = {**clean_env(tmp_path), "CANCELGATE_CLIENT_SECRET": caller.client_secret}
    by_env_name = {**env, "CANCELGATE_CLIENT_CONFIG": str(config), "CANCELGATE_PROFILE": "staging"}
    default_file = tmp_path / "home" / "cancelgate" / "client.toml"
    default_file.parent.mkdir(parents=True)
    default_file.write_text(
        f'[default]\nbase_url = "{api_server}"\nclient_id = "{caller.client_id}"\n'
        f'client_secret = "{caller.client_secret}"\n'
    )
    appointment = await caller.appointment("booked")
    staging = ["--config", str(config), "--profile", "staging"]
    by_option, by_variables, by_default_path, stale, missing = run_all(
        (env, [*staging, "appointments", "cancel", str(appointment.id), "--wait"]),
        (by_env_name, ["token"]),
        (clean_env(tmp_path, "home"), ["token"]),
        ({**env, "CANCELGATE_CLIENT_SECRET": ""}, [*staging, "token"]),
        (env, ["--config", str(config), "--profile", "production", "token"]),
    )
    assert by_option.code == 0, by_option
    assert f"  appointment_id: {appointment.id}" in by_option.out.splitlines()
    assert by_variables.code == 0 and JWT.match(by_variables.out.strip()), by_variables
    assert by_default_path.code == 0 and JWT.match(by_default_path.out.strip()), by_default_path
    # An empty variable does not override: the file's stale secret is used, and refused.
    assert stale.code == 6, stale
    assert missing.code == 2, missing
    assert "has no [production] profile" in missing.err


async def test_demo_file_profile(
    api_server: str, caller: Caller, other_caller: Caller, channel: Channel, tmp_path: Path
) -> None:
    demo = tmp_path / "demo.json"
    demo.write_text(
        json.dumps(
            {
                "base_url": api_server,
                "token_url": api_server + "/oauth/token",
                "clients": [
                    {
                        "tenant": "other",
                        "client_id": other_caller.client_id,
                        "client_secret": other_caller.client_secret,
                    },
                    {
                        "tenant": "demo",
                        "client_id": caller.client_id,
                        "client_secret": caller.client_secret,
                    },
                ],
                "appointments": {},
                "services": {},
                "ux_client": {
                    "client_id": channel.client_id,
                    "client_secret": channel.client_secret,
                },
                "ux": {},
            }
        )
    )
    env = clean_env(tmp_path)
    by_variable = {**env, "CANCELGATE_DEMO_FILE": str(demo)}
    broken = tmp_path / "broken.json"
    broken.write_text('{"base_url": "x"}')
    # The demo tenant's appointment: the other tenant's client would get 404.
    appointment = await caller.appointment("booked")
    technical = await channel.appointment("technical")
    cancelled, ux, unreadable = run_all(
        (env, ["--demo-file", str(demo), "appointments", "cancel", str(appointment.id), "--wait"]),
        (by_variable, ["ux", "cancel", "PR", technical.appointment_id, "--order-class", "T"]),
        (env, ["--demo-file", str(broken), "token"]),
    )
    assert cancelled.code == 0, cancelled
    assert f"  appointment_id: {appointment.id}" in cancelled.out.splitlines()
    assert ux.code == 0, ux
    assert "  status: cancelled" in ux.out.splitlines()
    assert unreadable.code == 2, unreadable
    assert "cannot read the demo file" in unreadable.err


def run_on_terminal(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`cancelgate client <args>` with stderr on a pseudo-terminal: (exit code, stdout, stderr)."""
    primary, secondary = os.openpty()
    try:
        proc = subprocess.Popen(
            [CANCELGATE, "client", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=secondary,
            text=True,
        )
    finally:
        os.close(secondary)
    chunks: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        out, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        os.close(primary)
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    return proc.returncode, out, b"".join(chunks).decode()


async def test_progress_on_a_terminal_is_one_line_cleared_before_anything_else(
    api_server: str, caller: Caller, tmp_path: Path
) -> None:
    env = profile_env(tmp_path, api_server, caller)
    slow = await caller.appointment("booked-slow")
    # --long-poll 0: the server answers each poll at once, so there are 202s to show.
    plain = ["--long-poll", "0"]
    code, out, err = run_on_terminal(env, *plain, "appointments", "cancel", str(slow.id), "--wait")
    assert code == 0, (out, err)
    assert f"  appointment_id: {slow.id}" in out.splitlines()
    # One line, rewritten in place, then cleared before the outcome is printed.
    assert err.startswith("\r\033[K⠋ in progress: 1 poll(s), "), repr(err)
    assert "\n" not in err
    assert err.endswith("\r\033[K"), repr(err)

    timing_out = await caller.appointment("booked-slow")
    code, out, err = run_on_terminal(
        env, *plain, "appointments", "cancel", str(timing_out.id), "--wait", "--timeout", "0.3"
    )
    assert code == 7, (out, err)
    assert "\r\033[K⠋ in progress: 1 poll(s), " in err, repr(err)
    # The error starts a line of its own, not glued to the end of the progress line.
    before, _, _ = err.partition("error: still in progress")
    assert before.endswith(("\r\033[K", "\n")), repr(err)
