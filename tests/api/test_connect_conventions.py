"""Connect conventions shared by every endpoint: tokens, versions, bodies, methods, headers."""

from __future__ import annotations

import time

from joserfc.jwk import RSAKey

from cancelgate.auth.tokens import issue_access_token
from cancelgate.keys import InstanceKeys
from cancelgate.upstream.nbn import scenarios
from tests.api.checks import assert_allow_is_true, assert_error, assert_security_headers
from tests.api.conftest import Caller
from tests.support import REQUEST, REQUESTS, SERVICE_REQUESTS, SUBSCRIPTIONS

SUPPORTED = "supported versions: 1, 2, 3, 4, 5, 6, 7, 8"


async def test_missing_token_is_401_with_challenge(caller: Caller) -> None:
    response = await caller.http.get(f"{REQUESTS}/1", headers={"X-API-VERSION": "8"})
    assert_error(
        response, 401, "client.access", "unauthorized", "Bearer token is missing or invalid"
    )
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_malformed_expired_and_foreign_tokens_are_401(
    caller: Caller, keys: InstanceKeys
) -> None:
    now = int(time.time())
    expired = issue_access_token(
        keys, issuer="x", tenant_id=caller.tenant_id, client_pk=1, client_id=caller.client_id,
        lifetime_seconds=60, now=now - 3600,
    )  # fmt: skip
    foreign_keys = InstanceKeys(
        signing_key=RSAKey.generate_key(2048), pepper=b"p" * 32, sealing_key=b"s" * 32
    )
    foreign = issue_access_token(
        foreign_keys, issuer="x", tenant_id=caller.tenant_id, client_pk=1,
        client_id=caller.client_id, lifetime_seconds=600,
    )  # fmt: skip
    for token in ("not-a-jwt", expired, foreign, caller.token[:-4] + "AAAA"):
        response = await caller.http.get(
            f"{REQUESTS}/1", headers={"Authorization": f"Bearer {token}", "X-API-VERSION": "8"}
        )
        assert_error(response, 401, "client.access", "unauthorized")
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    basic = await caller.http.get(
        f"{REQUESTS}/1", headers={"Authorization": "Basic abc", "X-API-VERSION": "8"}
    )
    assert_error(basic, 401, "client.access", "unauthorized")


async def test_our_own_token_for_another_issuer_or_too_long_a_life_is_401(
    caller: Caller, keys: InstanceKeys
) -> None:
    """Signed with our key and naming a live client, yet not one we would have issued here."""
    issuer = str(caller.http.base_url).rstrip("/")
    claims = {"tenant_id": caller.tenant_id, "client_pk": caller.client_pk}
    good = issue_access_token(
        keys, issuer=issuer, client_id=caller.client_id, lifetime_seconds=600, **claims
    )
    elsewhere = issue_access_token(
        keys, issuer="https://elsewhere.example", client_id=caller.client_id,
        lifetime_seconds=600, **claims,
    )  # fmt: skip
    forever = issue_access_token(
        keys, issuer=issuer, client_id=caller.client_id, lifetime_seconds=10**8, **claims
    )
    for token, reason in ((elsewhere, "not issued by"), (forever, "lives longer")):
        response = await caller.http.get(
            f"{REQUESTS}/1", headers={"Authorization": f"Bearer {token}", "X-API-VERSION": "8"}
        )
        assert_error(response, 401, "client.access", "unauthorized")
        assert reason in response.headers["www-authenticate"]
    accepted = await caller.http.get(
        f"{REQUESTS}/1", headers={"Authorization": f"Bearer {good}", "X-API-VERSION": "8"}
    )
    assert accepted.status_code == 404


async def test_version_missing_or_unsupported_is_400(caller: Caller) -> None:
    missing = await caller.http.get(f"{REQUESTS}/1", headers=caller.headers(version=None))
    body = assert_error(missing, 400, "client.validation", "missing.request.header")
    assert SUPPORTED in str(body["message"])
    for bad in ("9", "0", "abc"):
        response = await caller.http.get(f"{REQUESTS}/1", headers=caller.headers(version=bad))
        body = assert_error(response, 400, "client.validation", "unsupported.api.version")
        assert SUPPORTED in str(body["message"]) and bad in str(body["message"])


async def test_every_version_is_served_and_1_2_are_deprecated(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.COMPLETE)
    for version in range(1, 9):
        response = await caller.http.post(
            REQUEST, json={"appointmentId": appointment.id}, headers=caller.headers(str(version))
        )
        assert response.status_code == 422, version
        if version <= 2:
            assert response.headers["deprecation"].startswith("@")
            assert 'rel="deprecation"' in response.headers["link"]
        else:
            assert "deprecation" not in response.headers
            assert "link" not in response.headers


async def test_malformed_json_is_400(caller: Caller) -> None:
    for raw in (b'{"appointmentId": ', b"[1, 2]", b"\xff\xfe"):
        response = await caller.http.post(
            REQUEST, content=raw, headers=caller.headers(**{"Content-Type": "application/json"})
        )
        body = assert_error(response, 400, "client.validation", "http.message.not.readable")
        sub_errors = body["apiSubErrors"]
        assert isinstance(sub_errors, list)
        assert sub_errors[0]["code"] == "malformed.json.request"
        assert set(sub_errors[0]) == {"code", "message"}


async def test_wrong_content_type_is_415(caller: Caller) -> None:
    response = await caller.http.post(
        REQUEST,
        content=b"appointmentId=1",
        headers=caller.headers(**{"Content-Type": "text/plain"}),
    )
    assert_error(response, 415, "client.validation", "media.type.not.supported")


async def test_missing_or_mistyped_field_is_422(caller: Caller) -> None:
    cases = [({}, None, "constraints.not.null"),
             ({"appointmentId": None}, None, "constraints.not.null"),
             ({"appointmentId": "3"}, "3", "constraints.type.mismatch"),
             ({"appointmentId": 1.5}, 1.5, "constraints.type.mismatch"),
             ({"appointmentId": True}, True, "constraints.type.mismatch")]  # fmt: skip
    for payload, rejected, code in cases:
        response = await caller.http.post(REQUEST, json=payload, headers=caller.headers())
        body = assert_error(response, 422, "client.validation", "method.argument.not.valid")
        assert body["apiSubErrors"] == [
            {
                "code": code,
                "message": "must not be null"
                if code == "constraints.not.null"
                else "must be an integer",
                "object": "connectAppointmentCancellationRequestCommand",
                "field": "appointmentId",
                "rejectedValue": rejected,
            }
        ], payload


async def test_wrong_method_is_405_and_unknown_path_404(caller: Caller) -> None:
    response = await caller.http.put(REQUEST, json={"appointmentId": 1}, headers=caller.headers())
    assert_error(response, 405, "client.validation", "method.not.supported")
    assert "POST" in response.headers["allow"]
    response = await caller.http.delete(f"{REQUESTS}/1", headers=caller.headers())
    assert_error(response, 405, "client.validation", "method.not.supported")
    response = await caller.http.get("/api/connect/nothing-here", headers=caller.headers())
    assert_error(response, 404, "client.validation", "no.handler.found")


async def test_405_allow_names_every_method_of_the_path(caller: Caller) -> None:
    """A path with GET and POST: OPTIONS and PUT are 405 with `Allow: GET, POST`, not `POST`."""
    for method in ("OPTIONS", "PUT"):
        response = await caller.http.request(method, SUBSCRIPTIONS, headers=caller.headers())
        assert_error(response, 405, "client.validation", "method.not.supported")
        assert response.headers["allow"] == "GET, POST"
    unknown = 2147483647
    expected = {
        SUBSCRIPTIONS: "GET, POST",
        f"{SUBSCRIPTIONS}/{unknown}": "DELETE, GET, PATCH",
        REQUEST: "POST",
        f"{REQUESTS}/{unknown}": "GET",
        f"{SERVICE_REQUESTS}/reschedule": "GET, POST",  # also matches GET …/requests/{id}
        "/oauth/token": "POST",
    }
    for path, allow in expected.items():
        assert await assert_allow_is_true(caller.http, path, caller.headers()) == allow, path


async def test_security_headers_on_success_and_token_endpoint(caller: Caller) -> None:
    response = await caller.http.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert_security_headers(response)
    token = await caller.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        auth=(caller.client_id, caller.client_secret),
    )  # fmt: skip
    assert token.headers["cache-control"] == "no-store"
    assert token.headers["x-frame-options"] == "DENY"
