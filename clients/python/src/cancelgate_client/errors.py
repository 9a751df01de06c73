"""What the client raises: every error body the APIs answer, kept whole, and transport failures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class CancelgateError(Exception):
    """Base of everything the client raises."""


class ConfigurationError(CancelgateError, ValueError):
    """The client was not given what a call needs (credentials, a time zone, …)."""


class TransportError(CancelgateError):
    """The server could not be reached or did not answer in time (after the client's retries)."""


class ProtocolError(CancelgateError):
    """The server answered something the API never answers (e.g. a foreign `Location`)."""


class WaitTimeout(CancelgateError):
    """`wait=True` ran out of time while the outcome was still in progress."""

    def __init__(self, location: str, waited: float, polls: int) -> None:
        super().__init__(f"still in progress after {waited:.1f} s ({polls} polls): {location}")
        self.location = location
        self.waited = waited
        self.polls = polls


class ApiError(CancelgateError):
    """An error response: its status, headers and the body as sent."""

    def __init__(self, status: int, message: str, body: Any, headers: dict[str, str]) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body
        self.headers = headers

    @property
    def refused(self) -> bool:
        """The request was refused (400, 409, 413, 415 or 422): resending it will not help."""
        return self.status in (400, 409, 413, 415, 422)

    @property
    def not_found(self) -> bool:
        """The object is unknown to this caller (404)."""
        return self.status == 404


@dataclass(frozen=True)
class SubError:
    """One entry of a Connect error's `apiSubErrors`."""

    code: str
    message: str
    object: str | None
    field: str | None
    rejected_value: Any


class ConnectApiError(ApiError):
    """The Connect standard error body, every field kept (`code`, `apiSubErrors`, …)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        self.code: str = str(body.get("code", ""))
        self.type: str = str(body.get("type", ""))
        self.error_message: str = str(body.get("message", ""))
        self.http_status_code: int = int(body.get("httpStatusCode", status))
        self.timestamp: str | None = body.get("timestamp")
        self.api_sub_errors: list[SubError] = [
            SubError(
                code=str(item.get("code", "")),
                message=str(item.get("message", "")),
                object=item.get("object"),
                field=item.get("field"),
                rejected_value=item.get("rejectedValue"),
            )
            for item in body.get("apiSubErrors") or []
            if isinstance(item, dict)
        ]
        details = "".join(f"; {sub.code}: {sub.message}" for sub in self.api_sub_errors)
        super().__init__(status, f"{self.code}: {self.error_message}{details}", body, headers)


@dataclass(frozen=True)
class UxErrorItem:
    """One entry of the UX API's `errors` envelope."""

    code: int
    message: str
    description: str


class UxApiError(ApiError):
    """The UX API envelope `{"errors": [{code, message, description}]}`, with the correlation id."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        self.errors: list[UxErrorItem] = [
            UxErrorItem(
                code=int(item.get("code", status)),
                message=str(item.get("message", "")),
                description=str(item.get("description", "")),
            )
            for item in body.get("errors") or []
            if isinstance(item, dict)
        ]
        self.correlation_id: str | None = headers.get("x-correlation-id")
        first = self.errors[0] if self.errors else None
        text = f"{first.message}: {first.description}" if first else "error"
        super().__init__(status, text, body, headers)


class OAuthError(ApiError):
    """An RFC 6749 §5.2 error from the token endpoint (`error`, `error_description`)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        self.error: str = str(body.get("error", ""))
        self.error_description: str = str(body.get("error_description", ""))
        super().__init__(status, f"{self.error}: {self.error_description}", body, headers)


class WebhookVerificationError(CancelgateError):
    """A received webhook's signature or timestamp does not check out."""
