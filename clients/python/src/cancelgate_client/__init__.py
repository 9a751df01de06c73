"""A Python client of cancelgate's Connect and UX APIs (or any server that speaks them).

`AsyncClient` for asyncio code, `Client` for blocking code (threads, scripts, notebooks, a
running event loop's thread too): the same operations from one implementation. Depends on
httpx and typer (and `cryptography` for private_key_jwt); it imports nothing of the server.
"""

from cancelgate_client._async_client import AsyncClient
from cancelgate_client._base import PollUpdate, StreamUpdate
from cancelgate_client._sync_client import Client
from cancelgate_client.errors import (
    ApiError,
    CancelgateError,
    ConnectApiError,
    OAuthError,
    ProtocolError,
    SubError,
    TransportError,
    UxApiError,
    UxErrorItem,
    WaitTimeout,
    WebhookVerificationError,
)
from cancelgate_client.models import (
    Accepted,
    AppointmentCancellation,
    AppointmentFixture,
    Delivery,
    DeliveryAttempt,
    Event,
    InProgress,
    SandboxClock,
    SandboxScenario,
    ScenarioCatalogue,
    Service,
    ServiceCancellation,
    ServiceFixture,
    Subscription,
    Token,
    UxAppointmentFixture,
    UxCancellation,
)
from cancelgate_client.polling import PollPolicy
from cancelgate_client.webhooks import sign_webhook, verify_webhook

__version__ = "0.2.0"

__all__ = [
    "Accepted",
    "ApiError",
    "AppointmentCancellation",
    "AppointmentFixture",
    "AsyncClient",
    "CancelgateError",
    "Client",
    "ConnectApiError",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "InProgress",
    "OAuthError",
    "PollPolicy",
    "PollUpdate",
    "ProtocolError",
    "SandboxClock",
    "SandboxScenario",
    "ScenarioCatalogue",
    "Service",
    "ServiceCancellation",
    "ServiceFixture",
    "StreamUpdate",
    "SubError",
    "Subscription",
    "Token",
    "TransportError",
    "UxApiError",
    "UxAppointmentFixture",
    "UxCancellation",
    "UxErrorItem",
    "WaitTimeout",
    "WebhookVerificationError",
    "__version__",
    "sign_webhook",
    "verify_webhook",
]
