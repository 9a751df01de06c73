"""What the OpenAPI document says about bodies and answers that routers handle themselves:
request bodies read by hand (to control error order), error bodies, and status codes; and the
names (operationIds, component schemas and parameters) that generated clients are built on."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from cancelgate.connect.idempotency_key import MAX_KEY_LENGTH
from cancelgate.connect.versions import DEPRECATED_VERSIONS
from cancelgate.connect.versions import HEADER as VERSION_HEADER


class SubErrorBody(BaseModel):
    """One broken rule: `code` and `message`, and for field rules where it was found."""

    code: str
    message: str
    object: str | None = None
    field: str | None = None
    rejectedValue: Any = None


class ConnectErrorBody(BaseModel):
    """The Connect standard error body."""

    httpStatusCode: int
    type: str = Field(examples=["client.validation"])
    code: str = Field(examples=["method.argument.not.valid"])
    message: str
    apiSubErrors: list[SubErrorBody]
    timestamp: str = Field(examples=["2024-07-01T00:00:00.000000Z"])


class OAuthErrorBody(BaseModel):
    """An RFC 6749 §5.2 error."""

    error: str = Field(examples=["invalid_client"])
    error_description: str


class UxErrorItem(BaseModel):
    """One error of the UX envelope."""

    code: int
    message: str
    description: str


class UxErrorBody(BaseModel):
    """The UX API's error envelope."""

    errors: list[UxErrorItem]


CONNECT_ERRORS = {
    400: "Missing or unsupported X-API-VERSION, malformed JSON, a path id that is not an "
    "integer, or a malformed Idempotency-Key",
    401: "Bearer token missing, expired or not ours",
    404: "No such object among the caller's",
    409: "A request with this Idempotency-Key is still being processed",
    413: "Request body over the size limit",
    415: "Content-Type is not application/json",
    422: "Validation error or broken business rule (see apiSubErrors); or Idempotency-Key "
    "reused with another request",
    429: "Too many requests from this client (rate.limit.exceeded): wait Retry-After seconds",
    502: "An upstream service could not be reached or failed",
}
UX_ERRORS = {
    400: "Missing X-Correlation-ID, bad businessId, invalid body, or refused by CSG",
    401: "Missing or wrong client_id/client_secret, or a business unit the client may not use",
    404: "No such appointment in this business unit",
    413: "Request body over the size limit",
    429: "Too many requests from this channel client: wait Retry-After seconds",
    500: "CSG failed or did not answer in time; nothing was changed",
    501: "Operation or business unit not implemented",
}
LOCATION = {
    "Location": {
        "description": "Where the outcome is read",
        "required": True,
        "schema": {"type": "string"},
    }
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before polling again",
        "required": True,
        "schema": {"type": "string"},
    }
}
# A 429's fields (IETF draft-ietf-httpapi-ratelimit-headers; every answer of a limited
# operation carries the last two).
RATE_LIMITED = {
    "Retry-After": {
        "description": "Seconds until the next request will be admitted",
        "required": True,
        "schema": {"type": "string"},
    },
    "RateLimit-Policy": {
        "description": 'The quota per client: `"status";q=40;w=2` (40 requests in any 2 s)',
        "required": True,
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of it and when more comes: `"status";r=0;t=1`',
        "required": True,
        "schema": {"type": "string"},
    },
}

CONNECT_PREFIX = "/api/connect/"
UX_SECURITY_SCHEMES = {
    "clientId": {"type": "apiKey", "in": "header", "name": "client_id"},
    "clientSecret": {"type": "apiKey", "in": "header", "name": "client_secret"},
}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry safely: the first response to this key is replayed for 24 h",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": "^[!-~]+$",
    },
}

# Status sets by kind of Connect endpoint.
READ = (400, 401, 404)
COMMAND = (400, 401, 409, 413, 415, 422)

SCHEMAS = "#/components/schemas/"
PARAMETERS = "#/components/parameters/"

# Generated clients name their functions after these: a public contract, so they never change.
# Keyed as the document's `paths`: path, then method.
SUBSCRIPTION = "/api/connect/webhooks/subscriptions/{subscription_id}"
UX_APPOINTMENT = "/ecom-ux/v1/{business_id}/appointment/{appointment_id}"
OPERATION_IDS = {
    "/oauth/token": {"post": "issueToken"},
    "/.well-known/oauth-authorization-server": {"get": "getAuthorizationServerMetadata"},
    "/.well-known/jwks.json": {"get": "getJsonWebKeySet"},
    "/api/connect/orders/appointment-cancellations/request": {"post": "cancelAppointment"},
    "/api/connect/orders/appointment-cancellations/requests/{request_id}": {
        "get": "getAppointmentCancellation"
    },
    "/api/connect/services/service-cancellations/request": {"post": "requestServiceCancellation"},
    "/api/connect/services/service-cancellations/requests/reschedule": {
        "post": "rescheduleServiceCancellation"
    },
    "/api/connect/services/service-cancellations/requests/abort": {
        "post": "abortServiceCancellation"
    },
    "/api/connect/services/service-cancellations/requests/{service_id}": {
        "get": "getServiceCancellation"
    },
    "/api/connect/services/{service_id}": {"get": "getService"},
    "/api/connect/sandbox/service-cancellations/requests/{service_id}/submit": {
        "post": "submitServiceCancellationNow"
    },
    "/api/connect/sandbox/scenarios": {"get": "listSandboxScenarios"},
    "/api/connect/sandbox/appointments": {"post": "createAppointmentFixtures"},
    "/api/connect/sandbox/services": {"post": "createServiceFixtures"},
    "/ecom-ux/v1/{business_id}/sandbox/appointments": {"post": "createUxAppointmentFixtures"},
    "/api/connect/sandbox/clock": {"get": "getSandboxClock"},
    "/api/connect/sandbox/clock/advance": {"post": "advanceSandboxClock"},
    "/api/connect/webhooks/subscriptions": {
        "post": "createWebhookSubscription",
        "get": "listWebhookSubscriptions",
    },
    SUBSCRIPTION: {
        "get": "getWebhookSubscription",
        "patch": "updateWebhookSubscription",
        "delete": "deleteWebhookSubscription",
    },
    f"{SUBSCRIPTION}/rotate-secret": {"post": "rotateWebhookSecret"},
    f"{SUBSCRIPTION}/test": {"post": "sendWebhookTestEvent"},
    f"{SUBSCRIPTION}/deliveries": {"get": "listWebhookDeliveries"},
    f"{SUBSCRIPTION}/deliveries/{{delivery_id}}/redeliver": {"post": "redeliverWebhookDelivery"},
    "/api/connect/webhooks/events": {"get": "listWebhookEvents"},
    "/api/connect/webhooks/events/stream": {"get": "streamWebhookEvents"},
    UX_APPOINTMENT: {"patch": "cancelUxAppointment", "get": "getUxAppointment"},
}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """An `openapi_extra` that documents a required JSON body of this model.

    The schema is inline here; `finish_document` moves it to the components under its title.
    """
    schema = model.model_json_schema(ref_template=SCHEMAS + "{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def error_responses(
    model: type[BaseModel], descriptions: dict[int, str], *statuses: int
) -> dict[int | str, dict[str, Any]]:
    """`responses` entries for these error statuses, each with the API's error body (and a
    429 with its rate-limit fields)."""
    entries: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entries[status] = {"model": model, "description": descriptions[status]}
        if status == 429:
            entries[status]["headers"] = RATE_LIMITED
    return entries


def connect_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses` entries for Connect errors (the standard error body)."""
    return error_responses(ConnectErrorBody, CONNECT_ERRORS, *statuses)


def ux_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses` entries for UX API errors (the UX envelope)."""
    return error_responses(UxErrorBody, UX_ERRORS, *statuses)


def answer(
    status: int,
    description: str,
    model: type[BaseModel] | None = None,
    headers: dict[str, Any] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """A `responses` entry for a success: its body model (none: an empty body) and headers."""
    entry: dict[str, Any] = {"description": description}
    if model is not None:
        entry["model"] = model
    if headers:
        entry["headers"] = headers
    return {status: entry}


def _add_component(section: dict[str, Any], name: str, definition: dict[str, Any]) -> None:
    """Put a named definition in a components section; one name never means two things."""
    if section.setdefault(name, definition) != definition:
        raise ValueError(f"two different OpenAPI components are both named {name!r}")


def _shared_version_parameter(
    declared: dict[str, Any], components: dict[str, Any]
) -> dict[str, Any]:
    """The `$ref` that replaces an inline X-API-VERSION: one parameter per endpoint family.

    The enum is a named schema of its own, so that generators make one enum per family.
    """
    family = declared["schema"]["title"]
    versions: list[str] = declared["schema"]["enum"]
    deprecated = ", ".join(str(v) for v in sorted(DEPRECATED_VERSIONS))
    # x-enum-varnames: members V1..V8 rather than VALUE_0..VALUE_7 in generated clients.
    enum = {"type": "string", "enum": versions, "x-enum-varnames": [f"V{v}" for v in versions]}
    _add_component(components.setdefault("schemas", {}), family, enum)
    parameter = {
        "name": VERSION_HEADER,
        "in": "header",
        # Declared optional to FastAPI (the endpoint words its own 400), required on the wire.
        "required": True,
        "description": f"Version of the endpoint's contract (deprecated: {deprecated})",
        "schema": {"$ref": SCHEMAS + family},
    }
    _add_component(components.setdefault("parameters", {}), family, parameter)
    return {"$ref": PARAMETERS + family}


def _name_request_body(operation: dict[str, Any], components: dict[str, Any]) -> None:
    """Move an inline request body schema to the components, under its title."""
    schemas = components.setdefault("schemas", {})
    for media in operation.get("requestBody", {}).get("content", {}).values():
        schema = dict(media["schema"])
        if "$ref" in schema:
            continue
        for name, definition in schema.pop("$defs", {}).items():
            _add_component(schemas, name, definition)
        _add_component(schemas, schema["title"], schema)
        media["schema"] = {"$ref": SCHEMAS + schema["title"]}


def finish_document(document: dict[str, Any]) -> dict[str, Any]:
    """Adjust FastAPI's generated document to what the API really does, with stable names.

    FastAPI documents a 422 of its own for every operation with parameters; ours never answer
    it (errors have the API's format), so it goes. Every operation gets its short operationId
    and every request body a named schema, so that generated clients read well. X-API-VERSION
    is one shared parameter per endpoint family. The UX API's credentials are two API-key
    headers.
    """
    components = document.setdefault("components", {})
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            # A KeyError here: a new operation needs its name in OPERATION_IDS.
            operation["operationId"] = OPERATION_IDS[path][method]
            responses = operation.get("responses", {})
            default_422 = responses.get("422", {}).get("content", {}).get("application/json", {})
            if default_422.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                del responses["422"]
            parameters = operation.get("parameters", [])
            for index, parameter in enumerate(parameters):
                if parameter["in"] == "header" and parameter["name"] == VERSION_HEADER:
                    parameters[index] = _shared_version_parameter(parameter, components)
                # Connect ids are read as text (to word the 400 for non-numbers) but are ints.
                if parameter["in"] == "path" and path.startswith(CONNECT_PREFIX):
                    parameter["schema"] = {"type": "integer", "format": "int32"}
            if method == "post" and path.startswith(CONNECT_PREFIX):
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
            _name_request_body(operation, components)
    for name in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(name, None)
    components.setdefault("securitySchemes", {}).update(UX_SECURITY_SCHEMES)
    # Sorted, as FastAPI sorts its own: the document reads the same from build to build.
    for section in ("schemas", "parameters"):
        components[section] = dict(sorted(components.get(section, {}).items()))
    return document
