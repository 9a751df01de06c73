"""Schemathesis against the live server's own OpenAPI: generated valid and invalid requests to
every operation, and one real success of each, checked for 5xx, undocumented statuses, content
types, headers and bodies, accepted invalid data and ignored authentication. Bounded: a fixed
number of examples per operation. And the shape generated clients rely on: short unique
operationIds, named request bodies, one X-API-VERSION parameter per endpoint family."""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

import httpx
import pytest
import pytest_asyncio
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from requests.structures import CaseInsensitiveDict
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.config import OperationConfig, OperationsConfig
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cancelgate.keys import InstanceKeys
from cancelgate.upstream.csg import scenarios as csg
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn import service_scenarios as sc
from tests.api.conftest import Caller, Channel, Sessions, new_caller, new_channel
from tests.support import INSTALLATION_BODY, in_days, location_id

# Every check that judges a single request and its response. Not positive_data_acceptance: a
# schema-valid request can break a rule no schema states (a token form with an empty
# client_assertion is RFC 6749's 400; an appointment that is not booked is the seed's 422), and
# those answers are right. The others judge what these runs do not make: the coverage phase
# (missing_required_header, unsupported_method, allow_header_conformance), stateful sequences
# (use_after_free, ensure_resource_availability) or several identities
# (object_level_authorization; tests/api/test_isolation.py covers tenants).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
EXAMPLES_PER_OPERATION = 30


class Credentials:
    """A tenant's bearer token for Connect, a channel client's headers for the UX API."""

    bearer: ClassVar[dict[str, str]] = {}
    channel: ClassVar[dict[str, str]] = {}

    def get(self, case: Case[Any], ctx: Any) -> dict[str, str]:
        """The headers this operation authenticates with."""
        if case.path.startswith("/api/connect/"):
            return self.bearer
        if case.path.startswith("/ecom-ux/"):
            return self.channel
        return {}

    def set(self, case: Case[Any], data: dict[str, str], ctx: Any) -> None:
        """Put them on the request."""
        headers = CaseInsensitiveDict(case.headers)
        headers.update(data)
        case.headers = headers


@pytest_asyncio.fixture(loop_scope="session")
async def api_schema(
    api_server: str, http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys
) -> schemathesis.BaseSchema:
    """The server's OpenAPI document with a fresh tenant's and channel's credentials."""
    caller = await new_caller(http, db, keys)
    channel = await new_channel(http, db, keys, "fuzz", ["PR", "JM"])
    Credentials.bearer = {"Authorization": f"Bearer {caller.token}"}
    Credentials.channel = {"client_id": channel.client_id, "client_secret": channel.client_secret}
    schema = schemathesis.openapi.from_url(f"{api_server}/openapi.json")
    schema.config.update(base_url=api_server)
    # A stream never ends: read each one a second, not the default ten.
    schema.config.operations = OperationsConfig(
        operations=[
            OperationConfig.from_dict(
                {"include-path": "/api/connect/webhooks/events/stream", "request-timeout": 1}
            )
        ]
    )
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=EXAMPLES_PER_OPERATION,
        deterministic=True,
    )
    # 501 is the UX seed's answer for a business unit this installation does not serve.
    schema.config.checks.not_a_server_error.expected_statuses = ["2xx", "3xx", "4xx", "501"]
    schema.auth()(Credentials)
    return schema


def test_every_operation_conforms(api_schema: schemathesis.BaseSchema) -> None:
    """Every operation, valid and invalid data: zero failures of any check."""
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        if isinstance(result, Err):
            pytest.fail(f"invalid operation in the schema: {result.err()}")
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, auth_storage=api_schema.auth)

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            @given(strategy)
            def run(case: Case[Any]) -> None:
                case.call_and_validate(checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                # No invalid request exists for an operation without inputs.
                assert mode == GenerationMode.NEGATIVE
            except Exception as exc:  # each failure is reported, then the test fails
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert operations >= 20
    assert not failures, "\n\n".join(failures)


# --- one real success of every operation, checked like the generated ones --------------------

APPOINTMENTS = "/api/connect/orders/appointment-cancellations"
SERVICES = "/api/connect/services"
SERVICE_CANCELLATIONS = f"{SERVICES}/service-cancellations"
SUBSCRIPTIONS = "/api/connect/webhooks/subscriptions"
SUBSCRIPTION = f"{SUBSCRIPTIONS}/{{subscription_id}}"
UX_APPOINTMENT = "/ecom-ux/v1/{business_id}/appointment/{appointment_id}"


class Calls:
    """Requests to the document's operations, each response checked by every check."""

    def __init__(self, schema: schemathesis.BaseSchema, headers: dict[str, str]) -> None:
        self.schema = schema
        self.headers = headers

    def __call__(
        self,
        method: str,
        path: str,
        status: int,
        headers: dict[str, str] | None = None,
        **parts: Any,
    ) -> Response:
        """The response to one request, which must have this status and pass every check."""
        headers = self.headers if headers is None else headers
        case = self.schema[path][method].Case(headers=headers, **parts)
        response = case.call_and_validate(checks=CHECKS)
        assert response.status_code == status, (method, path, response.content)
        return response

    def outcome(self, path: str, statuses: set[int], **parts: Any) -> list[int]:
        """Poll an outcome (each answer checked) until it is no longer 202; the statuses seen."""
        seen: list[int] = []
        deadline = time.monotonic() + 20
        while not seen or seen[-1] == 202:
            assert time.monotonic() < deadline, seen
            case = self.schema[path]["GET"].Case(headers=self.headers, **parts)
            seen.append(case.call_and_validate(checks=CHECKS).status_code)
            time.sleep(0.1)
        assert set(seen) <= statuses, seen
        return seen


async def test_every_success_conforms(
    api_schema: schemathesis.BaseSchema, caller: Caller, channel: Channel
) -> None:
    """Fuzzing rarely reaches a success (ids are drawn at random): one of each, with real ids."""
    # Version 7: every Connect family serves it.
    call = Calls(api_schema, {"Authorization": f"Bearer {caller.token}", "X-API-VERSION": "7"})
    anonymous: dict[str, str] = {}
    form = {
        "grant_type": "client_credentials",
        "client_id": caller.client_id,
        "client_secret": caller.client_secret,
    }
    call(
        "POST",
        "/oauth/token",
        200,
        anonymous,
        body=form,
        media_type="application/x-www-form-urlencoded",
    )
    call("GET", "/.well-known/oauth-authorization-server", 200, anonymous)
    call("GET", "/.well-known/jwks.json", 200, anonymous)

    appointment = await caller.appointment(scenarios.BOOKED_SLOW)
    accepted = call("POST", f"{APPOINTMENTS}/request", 201, body={"appointmentId": appointment.id})
    request_id = location_id(accepted.headers["location"][0])
    seen = call.outcome(
        f"{APPOINTMENTS}/requests/{{request_id}}",
        {200, 202},
        path_parameters={"request_id": request_id},
    )
    assert seen[0] == 202 and seen[-1] == 200, seen

    service = await caller.service(sc.ACTIVE)
    ids = {"serviceId": service.id}
    call(
        "POST",
        f"{SERVICE_CANCELLATIONS}/request",
        201,
        body={**ids, "cancellationDate": in_days(14)},
    )
    call(
        "POST",
        f"{SERVICE_CANCELLATIONS}/requests/reschedule",
        204,
        body={**ids, "cancellationDate": in_days(21)},
    )
    call(
        "GET",
        f"{SERVICE_CANCELLATIONS}/requests/{{service_id}}",
        200,
        path_parameters={"service_id": service.id},
    )
    call("POST", f"{SERVICE_CANCELLATIONS}/requests/abort", 204, body=ids)
    call("GET", f"{SERVICES}/{{service_id}}", 200, path_parameters={"service_id": service.id})
    requested = await caller.service(sc.CANCELLATION_REQUESTED)
    call(
        "POST",
        "/api/connect/sandbox/service-cancellations/requests/{service_id}/submit",
        204,
        path_parameters={"service_id": requested.id},
    )

    created = call(
        "POST",
        SUBSCRIPTIONS,
        201,
        body={"url": "http://127.0.0.1:9/hook", "events": ["appointment.cancelled"]},
    )
    subscription = {"subscription_id": created.json()["id"]}
    call("GET", SUBSCRIPTIONS, 200)
    call("GET", SUBSCRIPTION, 200, path_parameters=subscription)
    call("PATCH", SUBSCRIPTION, 200, path_parameters=subscription, body={"description": "x"})
    call("POST", f"{SUBSCRIPTION}/rotate-secret", 200, path_parameters=subscription)
    sent = call("POST", f"{SUBSCRIPTION}/test", 202, path_parameters=subscription)
    call("GET", f"{SUBSCRIPTION}/deliveries", 200, path_parameters=subscription)
    call(
        "POST",
        f"{SUBSCRIPTION}/deliveries/{{delivery_id}}/redeliver",
        202,
        path_parameters={**subscription, "delivery_id": sent.json()["id"]},
    )
    call("DELETE", SUBSCRIPTION, 204, path_parameters=subscription)

    ux = await channel.appointment(csg.INSTALLATION)
    where = {"business_id": ux.business_id, "appointment_id": ux.appointment_id}
    call(
        "PATCH",
        UX_APPOINTMENT,
        200,
        channel.headers(),
        path_parameters=where,
        body=INSTALLATION_BODY,
    )
    call("GET", UX_APPOINTMENT, 501, channel.headers(), path_parameters=where)


# --- the shape generated clients rely on ------------------------------------------------------

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
CAMEL_CASE = re.compile(r"[a-z][a-zA-Z0-9]*")
# Each family's X-API-VERSION parameter and its versions.
VERSION_FAMILIES = {
    "AppointmentCancellationVersion": [str(v) for v in range(1, 9)],
    "ServiceCancellationVersion": [str(v) for v in range(1, 8)],
    "ServiceVersion": [str(v) for v in range(1, 9)],
    "WebhookVersion": [str(v) for v in range(1, 9)],
    "SandboxVersion": [str(v) for v in range(1, 9)],
}


def version_family(path: str) -> str | None:
    """The X-API-VERSION family of a path's operations; None off the Connect API."""
    if path.startswith(APPOINTMENTS):
        return "AppointmentCancellationVersion"
    if "/service-cancellations/" in path:  # the sandbox's submit too
        return "ServiceCancellationVersion"
    if path.startswith(SERVICES):
        return "ServiceVersion"
    if path.startswith("/api/connect/webhooks/"):  # subscriptions and the event feed
        return "WebhookVersion"
    if path.startswith("/api/connect/sandbox/"):
        return "SandboxVersion"
    return None


@pytest_asyncio.fixture(loop_scope="session")
async def document(http: httpx.AsyncClient) -> dict[str, Any]:
    """The served OpenAPI document."""
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (method, path, operation) of the document."""
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    """What a local `$ref` points at."""
    target: dict[str, Any] = document
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def test_operation_ids_are_short_unique_and_stable(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids)) >= 20
    for operation_id in ids:
        assert len(operation_id) <= 40 and CAMEL_CASE.fullmatch(operation_id), operation_id
    named = {(m, p): o["operationId"] for m, p, o in operations(document)}
    assert named["post", f"{APPOINTMENTS}/request"] == "cancelAppointment"
    assert named["get", f"{APPOINTMENTS}/requests/{{request_id}}"] == "getAppointmentCancellation"
    assert named["post", f"{SERVICE_CANCELLATIONS}/request"] == "requestServiceCancellation"
    assert named["post", SUBSCRIPTIONS] == "createWebhookSubscription"
    assert named["post", "/oauth/token"] == "issueToken"
    assert named["patch", UX_APPOINTMENT] == "cancelUxAppointment"


def test_every_body_is_a_named_schema(document: dict[str, Any]) -> None:
    """Request and response bodies are `$ref`s to component schemas, never inline."""
    bodies = 0
    for method, path, operation in operations(document):
        contents = [operation.get("requestBody", {}).get("content", {})]
        contents += [r.get("content", {}) for r in operation["responses"].values()]
        for content in contents:
            for media_type, media in content.items():
                ref = media["schema"].get("$ref", "")
                assert ref.startswith("#/components/schemas/"), (method, path, media_type)
                assert resolve(document, ref), ref
                bodies += 1
    assert bodies > 100


def test_bodyless_answers_declare_headers_only(document: dict[str, Any]) -> None:
    """A blank 201 or 204 documents `Location` and no content: clients must not parse JSON."""
    paths = document["paths"]
    for path in (f"{APPOINTMENTS}/request", f"{SERVICE_CANCELLATIONS}/request"):
        created = paths[path]["post"]["responses"]["201"]
        assert "content" not in created, path
        assert created["headers"]["Location"]["required"] is True
    for method, path, operation in operations(document):
        if "204" in operation["responses"]:
            assert "content" not in operation["responses"]["204"], (method, path)
    for path, schema in (
        ("/.well-known/oauth-authorization-server", "AuthorizationServerMetadata"),
        ("/.well-known/jwks.json", "JsonWebKeySet"),
    ):
        content = paths[path]["get"]["responses"]["200"]["content"]["application/json"]
        assert content["schema"] == {"$ref": f"#/components/schemas/{schema}"}


def test_api_version_is_one_parameter_per_family(document: dict[str, Any]) -> None:
    """One required header parameter per family, a string enum (no null), used by `$ref`."""
    parameters = document["components"]["parameters"]
    families = {n: p for n, p in parameters.items() if p["name"] == "X-API-VERSION"}
    assert set(families) == set(VERSION_FAMILIES)
    for name, versions in VERSION_FAMILIES.items():
        parameter = families[name]
        assert (parameter["in"], parameter["required"]) == ("header", True)
        enum = resolve(document, parameter["schema"]["$ref"])
        assert (enum["type"], enum["enum"]) == ("string", versions)
    for method, path, operation in operations(document):
        declared = operation.get("parameters", [])
        assert not [p for p in declared if p.get("name") == "X-API-VERSION"], (method, path)
        family = version_family(path)
        expected = [] if family is None else [f"#/components/parameters/{family}"]
        assert [p["$ref"] for p in declared if "$ref" in p] == expected, (method, path)
