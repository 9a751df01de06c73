"""What the OpenAPI document says about bodies and answers that routers handle themselves:
request bodies read by hand (to control error order), error bodies, and status codes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from cancelgate.idempotency.keys import MAX_KEY_LENGTH


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
    502: "An upstream service could not be reached or failed",
}
UX_ERRORS = {
    400: "Missing X-Correlation-ID, bad businessId, invalid body, or refused by CSG",
    401: "Missing or wrong client_id/client_secret, or a business unit the client may not use",
    404: "No such appointment in this business unit",
    413: "Request body over the size limit",
    500: "CSG failed or did not answer in time; nothing was changed",
    501: "Operation or business unit not implemented",
}
LOCATION = {"Location": {"description": "Where the outcome is read", "schema": {"type": "string"}}}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before polling again",
        "schema": {"type": "string"},
    }
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


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """An `openapi_extra` that documents a required JSON body of this model."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def error_responses(
    model: type[BaseModel], descriptions: dict[int, str], *statuses: int
) -> dict[int | str, dict[str, Any]]:
    """`responses` entries for these error statuses, each with the API's error body."""
    return {s: {"model": model, "description": descriptions[s]} for s in statuses}


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


def finish_document(document: dict[str, Any]) -> dict[str, Any]:
    """Adjust FastAPI's generated document to what the API really does.

    FastAPI documents a 422 of its own for every operation with parameters; ours never answer
    it (errors have the API's format), so it goes. X-API-VERSION is declared optional to
    FastAPI (the endpoint words its own 400) but is required on the wire. The UX API's
    credentials are two API-key headers.
    """
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.get("responses", {})
            default_422 = responses.get("422", {}).get("content", {}).get("application/json", {})
            if default_422.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                del responses["422"]
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header" and parameter["name"] == "X-API-VERSION":
                    parameter["required"] = True
                # Connect ids are read as text (to word the 400 for non-numbers) but are ints.
                if parameter["in"] == "path" and path.startswith(CONNECT_PREFIX):
                    parameter["schema"] = {"type": "integer", "format": "int32"}
            if method == "post" and path.startswith(CONNECT_PREFIX):
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    components = document.setdefault("components", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(name, None)
    components.setdefault("securitySchemes", {}).update(UX_SECURITY_SCHEMES)
    return document
