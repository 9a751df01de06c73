"""Reading a Connect command body: content type, JSON syntax, then field validation."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from cancelgate.connect.errors import (
    CLIENT_VALIDATION,
    ConnectError,
    detail_sub_error,
    validation_sub_error,
)
from cancelgate.domain.errors import SubError
from cancelgate.json_input import NotJson, parse_json, single

Command = TypeVar("Command", bound=BaseModel)

NOT_NULL = ("constraints.not.null", "must not be null")
_TYPE_MESSAGES = {
    "int": "must be an integer",
    "str": "must be a string",
    "date": "must be a date (yyyy-MM-dd)",
    "bool": "must be a boolean",
}


def is_json_content_type(value: str | None) -> bool:
    """True for application/json and application/*+json, with any parameters."""
    if not value:
        return False
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def unsupported_media_type(content_type: str | None) -> ConnectError:
    """415 for a body that is not JSON."""
    shown = content_type or "application/octet-stream"
    return ConnectError(
        415,
        CLIENT_VALIDATION,
        "media.type.not.supported",
        f"Content type '{shown}' not supported; use 'application/json'",
    )


def malformed_json(reason: str) -> ConnectError:
    """400 for a body that is not a JSON object."""
    return ConnectError(
        400,
        CLIENT_VALIDATION,
        "http.message.not.readable",
        "Malformed JSON request",
        [detail_sub_error("malformed.json.request", reason)],
    )


def _sub_error(error: Any, object_name: str, data: dict[str, Any]) -> SubError:
    field = ".".join(str(part) for part in error["loc"])
    rejected = data.get(str(error["loc"][0])) if error["loc"] else None
    if error["type"].startswith("constraints."):
        # A rule of our own validators, already named and worded as the API writes it.
        return SubError(error["type"], error["msg"], object_name, field, rejected)
    if error["type"] == "missing" or (error["type"].endswith("_type") and rejected is None):
        code, message = NOT_NULL
    else:
        kind = error["type"].split("_", 1)[0]
        code = "constraints.type.mismatch"
        message = _TYPE_MESSAGES.get(kind, error["msg"])
        if error["type"] in ("greater_than_equal", "less_than_equal"):
            code, message = "constraints.range", error["msg"].lower()
    return SubError(code, message, object_name, field, rejected)


async def read_command(
    request: Request,
    model: type[Command],
    object_name: str,
    context: dict[str, Any] | None = None,
) -> Command:
    """The validated command, or the Connect error that explains why it is not one.

    `context` reaches the model's validators (e.g. today's business date).
    """
    content_type = single(request.headers.getlist("content-type"))
    if not is_json_content_type(content_type):
        raise unsupported_media_type(content_type)
    raw = await request.body()
    try:
        data = parse_json(raw)
    except NotJson as exc:
        raise malformed_json(f"JSON parse error: {exc}") from None
    if not isinstance(data, dict):
        raise malformed_json("JSON parse error: the request body must be a JSON object")
    try:
        return model.model_validate(data, strict=True, context=context)
    except ValidationError as exc:
        sub_errors = [_sub_error(e, object_name, data) for e in exc.errors()]
        raise ConnectError(
            422,
            CLIENT_VALIDATION,
            "method.argument.not.valid",
            "Validation error",
            [validation_sub_error(e) for e in sub_errors],
        ) from None
