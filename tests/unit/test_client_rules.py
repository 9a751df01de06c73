"""The client library's pure rules: polling, Location, tokens, UX body, webhooks, error parsing."""

from __future__ import annotations

import base64
import json
import os
import random
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey, RSAKey
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as StandardVerificationError

from cancelgate_client import (
    ApiError,
    AppointmentCancellation,
    ConnectApiError,
    Delivery,
    OAuthError,
    ProtocolError,
    Service,
    ServiceCancellation,
    SubError,
    Subscription,
    Token,
    UxApiError,
    UxErrorItem,
    WebhookVerificationError,
    verify_webhook,
)
from cancelgate_client.polling import (
    HELD_READ_MARGIN,
    MIN_POLL_DELAY,
    PollPolicy,
    held_read_timeout,
    long_poll_seconds,
    next_delay,
    parse_retry_after,
    poll_pause,
    refresh_margin,
    resolve_location,
    wait_applied,
)
from cancelgate_client.tokens import (
    ASSERTION_TYPE,
    Credentials,
    client_assertion,
    load_private_key,
    token_form,
)
from cancelgate_client.ux import cancel_body
from tests.vectors import (
    VECTOR_BODY,
    VECTOR_ID,
    VECTOR_SECRET,
    VECTOR_SIGNATURE,
    VECTOR_TIMESTAMP,
)

NOW = datetime(2025, 10, 29, 4, 1, 55, tzinfo=UTC)
POLICY = PollPolicy()
SEEDS = range(50)

# --- parse_retry_after ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"), [("3", 3.0), (" 3 ", 3.0), ("0", 0.0), ("120", 120.0)]
)
def test_retry_after_in_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_retry_after_http_date_in_the_future_is_the_seconds_until_then() -> None:
    value = format_datetime(NOW + timedelta(seconds=10), usegmt=True)
    assert parse_retry_after(value, NOW) == 10.0


def test_retry_after_http_date_with_a_numeric_offset() -> None:
    moment = (NOW + timedelta(seconds=30)).astimezone(timezone(timedelta(hours=10)))
    assert parse_retry_after(format_datetime(moment), NOW) == 30.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    value = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(value, NOW) == 0.0


@pytest.mark.parametrize("value", ["soon", "1.5", "-1", "1e3", "Wed, 99 Foo 2015", "", "   ", None])
def test_retry_after_absent_or_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_retry_after_non_ascii_digits_are_garbage_not_a_crash() -> None:
    """RFC 9110 delay-seconds is ASCII digits; `str.isdigit` also takes '²', which float() refuses.

    Documents the intended behaviour ("None if absent or bad"): today this raises ValueError.
    """
    assert parse_retry_after("²", NOW) is None


# --- next_delay -------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", [0.0, 0.5, 2.0, 30.0])
def test_retry_after_is_a_floor_and_at_most_the_spread_above(retry_after: float) -> None:
    delays = [next_delay(3, retry_after, POLICY, random.Random(seed)) for seed in SEEDS]
    ceiling = retry_after * (1 + POLICY.retry_after_spread)
    assert all(retry_after <= delay <= ceiling for delay in delays)
    if retry_after:
        assert len(set(delays)) > 1  # spread: not everyone comes back at the same moment


def test_retry_after_wins_over_the_backoff_whatever_the_poll_count() -> None:
    rng = random.Random(7)
    assert all(1.0 <= next_delay(polls, 1.0, POLICY, rng) <= 1.2 for polls in range(20))


def test_backoff_is_equal_jitter_of_a_doubling_step() -> None:
    policy = PollPolicy(initial=0.25, maximum=5.0)
    for polls in range(10):
        step = min(policy.maximum, policy.initial * 2**polls)
        delays = [next_delay(polls, None, policy, random.Random(seed)) for seed in SEEDS]
        assert all(step / 2 <= delay <= step for delay in delays), polls
        assert min(delays) < step * 0.6 and max(delays) > step * 0.9, polls


def test_backoff_grows_then_caps_at_the_maximum() -> None:
    policy = PollPolicy(initial=0.25, maximum=5.0)
    rng = random.Random(1)
    ceilings = [min(policy.maximum, policy.initial * 2**polls) for polls in range(12)]
    assert ceilings[:5] == [0.25, 0.5, 1.0, 2.0, 4.0] and set(ceilings[5:]) == {5.0}
    for polls in range(5, 60):
        assert policy.maximum / 2 <= next_delay(polls, None, policy, rng) <= policy.maximum


def test_backoff_stays_capped_after_very_many_polls() -> None:
    """A long wait (e.g. PollPolicy(maximum=0.05, timeout=3600)) can reach 1024 polls.

    Documents the intended behaviour: today `initial * 2.0**polls` raises OverflowError.
    """
    delay = next_delay(2000, None, POLICY, random.Random(1))
    assert POLICY.maximum / 2 <= delay <= POLICY.maximum


def test_a_seeded_random_gives_the_same_delays() -> None:
    first = [next_delay(n, None, POLICY, random.Random(42)) for n in range(8)]
    again = [next_delay(n, None, POLICY, random.Random(42)) for n in range(8)]
    assert first == again


# --- long polling (Prefer: wait) -------------------------------------------------------


def test_long_polling_is_on_by_default_for_30_seconds() -> None:
    assert POLICY.long_poll == 30
    assert long_poll_seconds(POLICY, 120.0) == 30


@pytest.mark.parametrize(
    ("long_poll", "remaining", "seconds"),
    [
        (30, 30.0, 30),
        (30, 29.99, 29),  # whole seconds, rounded down: never past the wait's timeout
        (30, 7.5, 7),
        (10, 7.5, 7),
        (5, 7.5, 5),  # the policy's seconds when the time left is longer
        (30, 1.0, 1),
        (30, 0.3, 1),  # at least 1: `wait=0` would not hold, and the loop would spin
        (30, 0.0, 1),
        (30, -2.0, 1),
        (30, float("inf"), 30),
    ],
)
def test_the_wait_asked_is_the_policy_at_most_the_time_left(
    long_poll: int, remaining: float, seconds: int
) -> None:
    assert long_poll_seconds(PollPolicy(long_poll=long_poll), remaining) == seconds


@pytest.mark.parametrize("long_poll", [0, -1])
def test_long_polling_off_asks_no_wait(long_poll: int) -> None:
    assert long_poll_seconds(PollPolicy(long_poll=long_poll), 120.0) is None


@pytest.mark.parametrize(
    ("seconds", "default", "read"),
    [
        (30, 30.0, 30 + HELD_READ_MARGIN),  # the client's default would cut a full hold short
        (1, 0.5, 1 + HELD_READ_MARGIN),  # whatever the client's default
        (5, 60.0, 60.0),  # a longer default is kept
        (30, None, None),  # no limit stays no limit
    ],
)
def test_a_held_poll_reads_for_longer_than_its_hold(
    seconds: int, default: float | None, read: float | None
) -> None:
    assert held_read_timeout(seconds, default) == read


@pytest.mark.parametrize(
    "values",
    [["wait=30"], ["Wait=1"], ["return=minimal, wait=5"], ["return=minimal", "wait=5"], [" wait"]],
)
def test_preference_applied_naming_wait_means_held(values: list[str]) -> None:
    assert wait_applied(values)


@pytest.mark.parametrize("values", [[], [""], ["return=minimal"], ["waiting=30"], ["x=wait"]])
def test_preference_applied_without_wait_is_not_held(values: list[str]) -> None:
    assert not wait_applied(values)


@pytest.mark.parametrize("retry_after", [None, 0.0, 1.0, 5.0])
def test_after_a_held_202_the_next_poll_is_at_once_but_for_the_floor(
    retry_after: float | None,
) -> None:
    pauses = {poll_pause(3, retry_after, True, POLICY, random.Random(seed)) for seed in SEEDS}
    # Retry-After and backoff are ignored: the server has already waited.
    assert pauses == {MIN_POLL_DELAY}


def test_after_a_202_not_held_the_pause_is_next_delay() -> None:
    for polls in range(8):
        for retry_after in (None, 1.0, 5.0):
            pause = poll_pause(polls, retry_after, False, POLICY, random.Random(polls))
            assert pause == next_delay(polls, retry_after, POLICY, random.Random(polls))
    assert 1.0 <= poll_pause(0, 1.0, False, POLICY, random.Random(3)) <= 1.2


def test_after_a_202_not_held_the_pause_keeps_the_floor() -> None:
    assert poll_pause(0, 0.0, False, POLICY, random.Random(1)) == MIN_POLL_DELAY


# --- resolve_location -------------------------------------------------------------------

BASE = "http://127.0.0.1:8000"
POSTED = f"{BASE}/api/connect/orders/appointment-cancellations/request"
OUTCOME = f"{BASE}/api/connect/orders/appointment-cancellations/requests/2"


def test_location_absolute_path_resolves_on_the_server() -> None:
    location = "/api/connect/orders/appointment-cancellations/requests/2"
    assert resolve_location(POSTED, location, BASE) == OUTCOME


def test_location_relative_path_resolves_against_the_request_url() -> None:
    assert resolve_location(POSTED, "requests/2", BASE) == OUTCOME


def test_location_absolute_on_the_same_origin_is_kept() -> None:
    assert resolve_location(POSTED, OUTCOME, BASE) == OUTCOME
    assert resolve_location(POSTED, OUTCOME.replace("http://", "HTTP://"), BASE)


@pytest.mark.parametrize(
    "location",
    [
        "http://evil.example/api/connect/orders/appointment-cancellations/requests/2",
        "//evil.example/requests/2",
        "https://127.0.0.1:8000/requests/2",
        "http://127.0.0.1:8001/requests/2",
        "http://localhost:8000/requests/2",
    ],
)
def test_location_on_another_origin_is_refused(location: str) -> None:
    with pytest.raises(ProtocolError, match="not followed"):
        resolve_location(POSTED, location, BASE)


def test_location_under_a_base_with_a_path_prefix() -> None:
    base = "https://api.example.com/cancelgate"
    posted = f"{base}/api/connect/orders/appointment-cancellations/request"
    expected = f"{base}/api/connect/orders/appointment-cancellations/requests/2"
    assert resolve_location(posted, "requests/2", base) == expected
    location = "/cancelgate/api/connect/orders/appointment-cancellations/requests/2"
    assert resolve_location(posted, location, base) == expected


# --- refresh_margin ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "margin"), [(3000, 60.0), (600, 60.0), (300, 30.0), (10, 1.0), (0, 0.0)]
)
def test_refresh_margin_is_a_tenth_of_the_life_at_most_a_minute(
    expires_in: float, margin: float
) -> None:
    assert refresh_margin(expires_in) == margin


# --- tokens -----------------------------------------------------------------------------

KEY = RSAKey.generate_key(2048)
PUBLIC = RSAKey.import_key(KEY.as_dict(private=False))
TOKEN_URL = "http://127.0.0.1:8000/oauth/token"
CLIENT = "cg_client"
IAT = 1_700_000_000


def test_token_form_with_a_secret_is_only_the_grant_type() -> None:
    credentials = Credentials(client_id=CLIENT, client_secret="s3cret")
    assert token_form(credentials, TOKEN_URL, IAT) == {"grant_type": "client_credentials"}


def test_token_form_with_a_private_key_carries_a_verifiable_assertion() -> None:
    credentials = Credentials(client_id=CLIENT, private_key_pem=KEY.as_pem(private=True))
    form = token_form(credentials, TOKEN_URL, IAT)
    assert set(form) == {"grant_type", "client_assertion_type", "client_assertion"}
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == ASSERTION_TYPE
    token = jwt.decode(form["client_assertion"], PUBLIC, algorithms=["RS256"])
    assert token.header == {"alg": "RS256", "typ": "JWT"}
    claims = token.claims
    assert set(claims) == {"iss", "sub", "aud", "iat", "exp", "jti"}
    assert claims["iss"] == claims["sub"] == CLIENT
    assert claims["aud"] == TOKEN_URL
    assert claims["iat"] == IAT and claims["exp"] - claims["iat"] == 60


def test_assertion_names_its_key_and_never_repeats_a_jti() -> None:
    credentials = Credentials(
        client_id=CLIENT, private_key_pem=KEY.as_pem(private=True), key_id="k1"
    )
    assertions = [client_assertion(credentials, TOKEN_URL, IAT) for _ in range(5)]
    decoded = [jwt.decode(a, PUBLIC, algorithms=["RS256"]) for a in assertions]
    assert all(token.header["kid"] == "k1" for token in decoded)
    assert len({token.claims["jti"] for token in decoded}) == 5


def test_assertion_signed_by_another_key_does_not_verify() -> None:
    other = RSAKey.generate_key(2048)
    credentials = Credentials(client_id=CLIENT, private_key_pem=other.as_pem(private=True))
    with pytest.raises(BadSignatureError):
        jwt.decode(client_assertion(credentials, TOKEN_URL, IAT), PUBLIC, algorithms=["RS256"])


def test_assertion_needs_an_rsa_key() -> None:
    pem = ECKey.generate_key("P-256").as_pem(private=True)
    credentials = Credentials(client_id=CLIENT, private_key_pem=pem)
    with pytest.raises(ValueError, match="RSA"):
        client_assertion(credentials, TOKEN_URL, IAT)


@pytest.mark.parametrize(
    ("secret", "pem"), [(None, None), ("s3cret", b"-----BEGIN PRIVATE KEY-----")]
)
def test_credentials_need_exactly_one_of_secret_or_key(
    secret: str | None, pem: bytes | None
) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Credentials(client_id=CLIENT, client_secret=secret, private_key_pem=pem)


def test_private_key_loads_from_bytes_string_or_path(tmp_path: Path) -> None:
    pem = KEY.as_pem(private=True)
    path = tmp_path / "client.pem"
    path.write_bytes(pem)
    assert load_private_key(pem) == pem
    assert load_private_key(pem.decode()) == pem
    assert load_private_key("\n" + pem.decode()) == ("\n" + pem.decode()).encode()
    assert load_private_key(path) == pem
    assert load_private_key(str(path)) == pem


# --- the UX cancel body -----------------------------------------------------------------


def test_cancel_body_for_an_installation_names_the_billing_account() -> None:
    end = datetime(2026, 3, 5, 12, 0, tzinfo=timezone(timedelta(hours=-4)))
    body = cancel_body("CR", "S", "8211990010043396", end)
    assert body == {
        "status": "cancelled",
        "relatedEntity": [
            {
                "@type": "RelatedEntity",
                "@referredType": "CancellationReason",
                "id": "CR",
                "name": "User canceled appointment",
                "role": "cancellationReason",
            },
            {
                "id": "8211990010043396",
                "role": "Customer Account",
                "@referredType": "BillingAccount",
            },
        ],
        "validFor": {"endDateTime": "2026-03-05T12:00:00.000-04:00"},
        "characteristics": [{"name": "orderClass", "value": "S"}],
    }


def test_cancel_body_for_a_technical_appointment_has_only_the_reason() -> None:
    before = datetime.now(UTC)
    body = cancel_body("CA", "T", None)
    [reason] = body["relatedEntity"]
    assert (reason["id"], reason["name"], reason["role"]) == (
        "CA", "Cancel by Customer", "cancellationReason",
    )  # fmt: skip
    assert body["characteristics"] == [{"name": "orderClass", "value": "T"}]
    end = datetime.fromisoformat(body["validFor"]["endDateTime"])
    assert end.utcoffset() is not None
    assert before - timedelta(milliseconds=1) <= end <= datetime.now(UTC)


def test_cancel_body_keeps_an_unknown_reason_code_as_its_name() -> None:
    assert cancel_body("XX", "T", None)["relatedEntity"][0]["name"] == "XX"


# --- verify_webhook ---------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def signed(
    secrets: list[str], body: bytes, timestamp: int, msg_id: str = "evt_1"
) -> dict[str, str]:
    """Headers as a Standard Webhooks sender writes them, signed by standardwebhooks itself."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    signatures = [Webhook(s).sign(msg_id, moment, body.decode()) for s in secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


VECTOR_HEADERS = {
    "webhook-id": VECTOR_ID,
    "webhook-timestamp": str(VECTOR_TIMESTAMP),
    "webhook-signature": VECTOR_SIGNATURE,
}


def test_webhook_published_vector_verifies() -> None:
    payload = verify_webhook(VECTOR_SECRET, VECTOR_BODY, VECTOR_HEADERS, now=VECTOR_TIMESTAMP)
    assert payload == {"test": 2432232314}


def test_webhook_header_names_are_case_insensitive() -> None:
    headers = {name.title(): value for name, value in VECTOR_HEADERS.items()}
    assert verify_webhook(VECTOR_SECRET, VECTOR_BODY, headers, now=VECTOR_TIMESTAMP)


def test_webhook_during_a_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    body = b'{"id": 1}'
    now = 1_700_000_000
    headers = signed([new, old], body, now)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert verify_webhook(secret, body, headers, now=now) == {"id": 1}
    only_old = signed([old], body, now)
    assert verify_webhook([new, old], body, only_old, now=now) == {"id": 1}


def test_webhook_wrong_secret_or_tampered_body_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify_webhook(new_secret(), VECTOR_BODY, VECTOR_HEADERS, now=VECTOR_TIMESTAMP)
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify_webhook(VECTOR_SECRET, VECTOR_BODY + b" ", VECTOR_HEADERS, now=VECTOR_TIMESTAMP)
    other_id = {**VECTOR_HEADERS, "webhook-id": VECTOR_ID + "x"}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(VECTOR_SECRET, VECTOR_BODY, other_id, now=VECTOR_TIMESTAMP)


def test_webhook_other_signature_versions_and_bad_base64_are_skipped() -> None:
    good = VECTOR_HEADERS["webhook-signature"]
    mixed = {**VECTOR_HEADERS, "webhook-signature": f"v1a,abc v1,!!notbase64 {good}"}
    assert verify_webhook(VECTOR_SECRET, VECTOR_BODY, mixed, now=VECTOR_TIMESTAMP)
    v2_only = {**VECTOR_HEADERS, "webhook-signature": good.replace("v1,", "v2,")}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(VECTOR_SECRET, VECTOR_BODY, v2_only, now=VECTOR_TIMESTAMP)


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_webhook_timestamp_outside_the_tolerance_is_refused(offset: int) -> None:
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_webhook(VECTOR_SECRET, VECTOR_BODY, VECTOR_HEADERS, now=VECTOR_TIMESTAMP + offset)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_webhook_timestamp_at_the_tolerance_is_accepted(offset: int) -> None:
    assert verify_webhook(VECTOR_SECRET, VECTOR_BODY, VECTOR_HEADERS, now=VECTOR_TIMESTAMP + offset)


def test_webhook_custom_tolerance() -> None:
    with pytest.raises(WebhookVerificationError):
        verify_webhook(
            VECTOR_SECRET, VECTOR_BODY, VECTOR_HEADERS, tolerance=10, now=VECTOR_TIMESTAMP + 11
        )


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_webhook_missing_header_is_refused(missing: str) -> None:
    headers = {k: v for k, v in VECTOR_HEADERS.items() if k != missing}
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_webhook(VECTOR_SECRET, VECTOR_BODY, headers, now=VECTOR_TIMESTAMP)


def test_webhook_non_integer_timestamp_bad_secret_and_non_json_body_are_refused() -> None:
    bad_time = {**VECTOR_HEADERS, "webhook-timestamp": "yesterday"}
    with pytest.raises(WebhookVerificationError, match="integer"):
        verify_webhook(VECTOR_SECRET, VECTOR_BODY, bad_time, now=VECTOR_TIMESTAMP)
    with pytest.raises(WebhookVerificationError, match="whsec_"):
        verify_webhook("whsec_not base64!", VECTOR_BODY, VECTOR_HEADERS, now=VECTOR_TIMESTAMP)
    secret = new_secret()
    with pytest.raises(WebhookVerificationError, match="not JSON"):
        verify_webhook(secret, b"not json", signed([secret], b"not json", 1000), now=1000)


@pytest.mark.parametrize(
    "body", [b"{}", b'{"id": 1, "status": "cancelled"}', json.dumps({"t": "\u00e9\u2603"}).encode()]
)
def test_webhook_verification_agrees_with_standardwebhooks(body: bytes) -> None:
    """Signed by standardwebhooks' Webhook.sign: both verifiers accept; both refuse a tamper."""
    secret = new_secret()
    now = int(datetime.now(UTC).timestamp())
    headers = signed([secret], body, now)
    assert verify_webhook(secret, body, headers) == Webhook(secret).verify(body, headers)
    tampered = body[:-1] + b" }"
    with pytest.raises(StandardVerificationError):
        Webhook(secret).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, tampered, headers)
    old = signed([secret], body, now - 301)
    with pytest.raises(StandardVerificationError):
        Webhook(secret).verify(body, old)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, body, old)


# --- error bodies and models ------------------------------------------------------------

CONNECT_ERROR: dict[str, Any] = {
    "httpStatusCode": 422,
    "type": "client.validation",
    "code": "validation",
    "message": "Validation error",
    "apiSubErrors": [
        {
            "code": "constraints.appointment.not.booked",
            "message": "Appointment with id 7 cannot be cancelled as it is not booked",
            "object": "Appointment",
            "field": "status",
            "rejectedValue": "complete",
        },
        {"code": "x", "message": "y", "object": None, "field": None, "rejectedValue": [1, 2]},
        "not an object",
    ],
    "timestamp": "2025-10-29T04:01:55.123Z",
}


def test_connect_error_keeps_every_field() -> None:
    error = ConnectApiError(422, CONNECT_ERROR, {"content-type": "application/json"})
    assert (error.status, error.http_status_code, error.type, error.code) == (
        422, 422, "client.validation", "validation",
    )  # fmt: skip
    assert error.error_message == "Validation error"
    assert error.timestamp == "2025-10-29T04:01:55.123Z"
    assert error.api_sub_errors == [
        SubError(
            code="constraints.appointment.not.booked",
            message="Appointment with id 7 cannot be cancelled as it is not booked",
            object="Appointment",
            field="status",
            rejected_value="complete",
        ),
        SubError(code="x", message="y", object=None, field=None, rejected_value=[1, 2]),
    ]
    assert error.body is CONNECT_ERROR and error.headers == {"content-type": "application/json"}
    assert error.refused and not error.not_found
    assert str(error).startswith("422: validation: Validation error")
    assert "constraints.appointment.not.booked" in str(error)


def test_connect_error_without_sub_errors() -> None:
    body = {"httpStatusCode": 404, "type": "business.rule", "code": "resource.not.found"}
    error = ConnectApiError(404, {**body, "apiSubErrors": None}, {})
    assert error.api_sub_errors == [] and error.not_found and not error.refused
    assert error.timestamp is None and error.error_message == ""


REFUSED = {400, 409, 413, 415, 422}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 502, 503])
def test_api_error_refused_means_resending_will_not_help(status: int) -> None:
    error = ApiError(status, "x", None, {})
    assert error.refused is (status in REFUSED)
    assert error.not_found is (status == 404)


def test_ux_error_keeps_the_envelope_and_the_correlation_id() -> None:
    body = {
        "errors": [
            {"code": 400, "message": "Bad", "description": "Appointment 1 is completed."},
            "junk",
        ]
    }
    error = UxApiError(400, body, {"x-correlation-id": "corr-1"})
    assert error.errors == [UxErrorItem(400, "Bad", "Appointment 1 is completed.")]
    assert error.correlation_id == "corr-1"
    assert str(error) == "400: Bad: Appointment 1 is completed."
    empty = UxApiError(500, {}, {})
    assert empty.errors == [] and empty.correlation_id is None and str(empty) == "500: error"


def test_oauth_error() -> None:
    body = {"error": "invalid_client", "error_description": "Client authentication failed"}
    error = OAuthError(401, body, {})
    assert (error.error, error.error_description, error.status) == (
        "invalid_client", "Client authentication failed", 401,
    )  # fmt: skip


def test_token_and_appointment_cancellation_parse() -> None:
    token = Token.from_json({"access_token": "abc", "token_type": "Bearer", "expires_in": 3000})
    assert token == Token("abc", "Bearer", 3000, None)
    body = {
        "id": 2, "appointmentId": 1, "nbnAppointmentId": "APT1",
        "cancelledOn": "2025-10-29T04:01:56Z", "requestedOn": "2025-10-29T04:01:55Z",
    }  # fmt: skip
    outcome = AppointmentCancellation.from_json(body)
    assert (outcome.id, outcome.appointment_id, outcome.nbn_appointment_id) == (2, 1, "APT1")
    assert outcome.requested_on == NOW and outcome.raw is body
    assert outcome.cancelled_on == NOW + timedelta(seconds=1)


def test_service_and_its_null_cancellation_parse() -> None:
    fields = [
        "status", "requestDate", "requestedOn", "requestedById", "requestedByName",
        "requestedByEmail", "errorDetail", "cancelledOn", "abortedOn", "abortedById",
        "abortedByName", "abortedByEmail",
    ]  # fmt: skip
    cancellation: dict[str, Any] = {"serviceId": 5, **dict.fromkeys(fields)}
    cancellation.update(
        canRequestCancellation=True, canAbortCancellation=False,
        canRescheduleCancellation=False, cancelled=False,
    )  # fmt: skip
    parsed = ServiceCancellation.from_json(cancellation)
    assert parsed.service_id == 5 and parsed.status is None and parsed.request_date is None
    assert parsed.can_request_cancellation and not parsed.cancelled
    service = Service.from_json(
        {
            "id": 5,
            "nbnServiceId": "AVC1",
            "status": "active",
            "eligibleForCancellation": True,
            "cancelledOn": None,
            "serviceCancellation": cancellation,
        }
    )
    assert service.service_cancellation == parsed and service.eligible_for_cancellation


def test_subscription_and_delivery_parse() -> None:
    subscription = Subscription.from_json(
        {
            "id": 3,
            "url": "https://h/x",
            "events": ["service.cancelled"],
            "description": None,
            "enabled": False,
            "disabledReason": "410",
            "createdAt": "2025-10-29T04:01:55Z",
            "updatedAt": None,
        }
    )
    assert subscription.secret is None and subscription.disabled_reason == "410"
    assert subscription.created_at == NOW and subscription.updated_at is None
    delivery = Delivery.from_json(
        {
            "id": 9,
            "eventId": "evt",
            "eventType": "webhook.test",
            "status": "succeeded",
            "nextAttemptAt": None,
            "createdAt": "2025-10-29T04:01:55Z",
            "attempts": [
                {
                    "attemptedAt": "2025-10-29T04:01:55Z",
                    "statusCode": 500,
                    "latencyMs": 3,
                    "error": None,
                }
            ],
        }
    )
    [attempt] = delivery.attempts
    assert (attempt.status_code, attempt.latency_ms, attempt.attempted_at) == (500, 3, NOW)
