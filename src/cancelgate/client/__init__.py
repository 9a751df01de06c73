"""A Python client of cancelgate's Connect and UX APIs (or any server that speaks them).

Depends on httpx alone (and `cryptography` for private_key_jwt); it imports nothing of the
server, so it installs on its own (`clients/python`).
"""

from cancelgate.client.async_client import AsyncClient, PollUpdate
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
    Delivery,
    DeliveryAttempt,
    InProgress,
    Service,
    ServiceCancellation,
    Subscription,
    Token,
    UxCancellation,
)
from cancelgate.client.polling import PollPolicy
from cancelgate.client.sync_client import Client
from cancelgate.client.webhooks import verify_webhook

__all__ = [
    "Accepted",
    "ApiError",
    "AppointmentCancellation",
    "AsyncClient",
    "CancelgateError",
    "Client",
    "ConnectApiError",
    "Delivery",
    "DeliveryAttempt",
    "InProgress",
    "OAuthError",
    "PollPolicy",
    "PollUpdate",
    "ProtocolError",
    "Service",
    "ServiceCancellation",
    "SubError",
    "Subscription",
    "Token",
    "TransportError",
    "UxApiError",
    "UxCancellation",
    "UxErrorItem",
    "WaitTimeout",
    "WebhookVerificationError",
    "verify_webhook",
]
