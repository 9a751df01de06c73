"""X-API-VERSION: each endpoint declares the versions it serves; 1 and 2 are deprecated."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime

from fastapi import Header
from starlette.requests import Request

from cancelgate.connect.errors import CLIENT_VALIDATION, ConnectError

HEADER = "X-API-VERSION"
DEPRECATED_VERSIONS = frozenset({1, 2})
# The security/headers middleware reads this scope key to add Deprecation and Link.
DEPRECATED_SCOPE_KEY = "cancelgate.deprecated_version"


def deprecation_headers(deprecated_since: str, link: str) -> list[tuple[bytes, bytes]]:
    """RFC 9745 `Deprecation` (as @epoch-seconds) and its `Link rel="deprecation"`."""
    epoch = int(datetime.fromisoformat(deprecated_since.replace("Z", "+00:00")).timestamp())
    return [
        (b"deprecation", f"@{epoch}".encode()),
        (b"link", f'<{link}>; rel="deprecation"; type="text/html"'.encode()),
    ]


def _supported_text(versions: Collection[int]) -> str:
    return ", ".join(str(v) for v in sorted(versions))


def version_error(raw: str | None, versions: Collection[int]) -> ConnectError:
    """400 naming the supported versions, for a missing or unsupported X-API-VERSION."""
    supported = _supported_text(versions)
    if raw is None or not raw.strip():
        return ConnectError(
            400,
            CLIENT_VALIDATION,
            "missing.request.header",
            f"Required request header '{HEADER}' is missing; supported versions: {supported}",
        )
    return ConnectError(
        400,
        CLIENT_VALIDATION,
        "unsupported.api.version",
        f"{HEADER} '{raw}' is not supported by this endpoint; supported versions: {supported}",
    )


def negotiate(raw: str | None, versions: Collection[int]) -> int:
    """The requested version if this endpoint serves it; otherwise the documented 400."""
    value = (raw or "").strip()
    if value.isascii() and value.isdigit() and int(value) in versions:
        return int(value)
    raise version_error(raw, versions)


@dataclass(frozen=True)
class VersionFamily(Collection[int]):
    """The versions a family of endpoints serves; `name` names them in the OpenAPI document."""

    name: str
    versions: range

    def __contains__(self, version: object) -> bool:
        return version in self.versions

    def __iter__(self) -> Iterator[int]:
        return iter(self.versions)

    def __len__(self) -> int:
        return len(self.versions)


def api_version(family: VersionFamily) -> Callable[..., Awaitable[int]]:
    """A FastAPI dependency that accepts only the versions of this family of endpoints."""
    allowed = frozenset(family)
    # Declared so that the OpenAPI document shows it; read below as sent (the 400 is ours).
    # The title carries the family's name: the document makes one shared parameter of it.
    documented = Header(
        default=None,
        alias=HEADER,
        title=family.name,
        description="Version of the endpoint's contract",
        json_schema_extra={"enum": [str(v) for v in sorted(allowed)]},
    )

    # async: a plain function dependency would hop to a worker thread on every request.
    async def dependency(request: Request, _declared: str | None = documented) -> int:
        values = request.headers.getlist(HEADER)
        # Sent twice is as unusable as not sent: the 400 shows what came.
        version = negotiate(values[0] if len(values) == 1 else ",".join(values), allowed)
        if version in DEPRECATED_VERSIONS:
            request.scope[DEPRECATED_SCOPE_KEY] = True
        return version

    return dependency


APPOINTMENT_CANCELLATION_VERSIONS = VersionFamily("AppointmentCancellationVersion", range(1, 9))
SERVICE_CANCELLATION_VERSIONS = VersionFamily("ServiceCancellationVersion", range(1, 8))
SERVICE_VERSIONS = VersionFamily("ServiceVersion", range(1, 9))
WEBHOOK_VERSIONS = VersionFamily("WebhookVersion", range(1, 9))
# The sandbox's own routes (fixtures, test clocks) accept every version a client may send.
SANDBOX_VERSIONS = VersionFamily("SandboxVersion", range(1, 9))
