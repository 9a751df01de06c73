"""`cancelgate client listen`: events relayed to the developer's own endpoint, signed as real
deliveries are (Standard Webhooks), with a signing secret that stays the same per profile."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cancelgate_client.models import Event
from cancelgate_client.webhooks import SECRET_PREFIX, sign_webhook

# What the listen secret is derived for: another label would give another secret.
SECRET_LABEL = b"cancelgate-client listen signing secret v1"
# Standard Webhooks secrets are 24 to 64 random bytes; cancelgate's own are 24.
SECRET_BYTES = 24


def listen_secret(client_id: str, key: bytes) -> str:
    """The profile's listen signing secret: `whsec_` + base64 of the first 24 bytes of
    HMAC-SHA256(key, label NUL client_id), where `key` is the profile's client secret (or its
    private key file's bytes). The same profile always gets the same secret, and it reveals
    nothing of the key."""
    message = SECRET_LABEL + b"\0" + client_id.encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:SECRET_BYTES]
    return SECRET_PREFIX + base64.b64encode(digest).decode()


def delivery_body(payload: dict[str, Any]) -> bytes:
    """The payload as cancelgate's deliveries serialise it: JSON on one line."""
    return json.dumps(payload, separators=(",", ":")).encode()


def delivery_headers(event: Event) -> dict[str, str]:
    """The headers of a real delivery of the event that are the event's own: the events feed's
    when the event came from it, else made by the server's rule (a copy of
    `cancelgate.webhooks.delivery.event_headers`, since the client imports nothing of the
    server; the notification model is the type's first part: `appointment`, `service`)."""
    if event.headers:
        return dict(event.headers)
    return {
        "Content-Type": "application/json",
        "z-event-type": f"{event.type}.event",
        "z-notification-type": f"{event.type}.notification",
        "z-notification-model": event.type.split(".", 1)[0],
        "webhook-id": event.id,
    }


def signed_delivery(event: Event, secret: str, timestamp: int) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a delivery of the event, signed with the secret at `timestamp`
    (Unix seconds): `webhook-id` (the event id), `webhook-timestamp`, `webhook-signature`."""
    body = delivery_body(event.payload)
    headers = delivery_headers(event)
    headers["webhook-id"] = event.id
    headers["webhook-timestamp"] = str(timestamp)
    headers["webhook-signature"] = sign_webhook(secret, event.id, timestamp, body)
    return body, headers
