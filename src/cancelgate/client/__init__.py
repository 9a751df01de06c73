"""A Python client of cancelgate's Connect and UX APIs (or any server that speaks them).

Depends on httpx alone (and `cryptography` for private_key_jwt); it imports nothing of the
server, so it installs on its own (`clients/python`).
"""

from cancelgate.client.async_client import AsyncClient, PollUpdate, StreamUpdate
from cancelgate.client.errors import (
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
from cancelgate.client.models import (
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
from cancelgate.client.polling import PollPolicy
from cancelgate.client.sync_client import Client
from cancelgate.client.webhooks import sign_webhook, verify_webhook

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
    "sign_webhook",
    "verify_webhook",
]
