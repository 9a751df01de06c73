"""Checking that a received webhook came from cancelgate (Standard Webhooks signatures)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from cancelgate_client.errors import WebhookVerificationError

SECRET_PREFIX = "whsec_"
# Standard Webhooks' default: a delivery older or newer than this is refused (replays).
TOLERANCE_SECONDS = 300


def verify_webhook(
    secret: str | list[str],
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> Any:
    """The delivery's JSON payload if one of its `v1` signatures matches a secret; else raises.

    Pass both secrets while a rotation is in its 24 h overlap. Deduplicate on `webhook-id`.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id")
    timestamp_text = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not message_id or not timestamp_text or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(timestamp_text)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = [
        hmac.new(_key(s), signed, hashlib.sha256).digest()
        for s in ([secret] if isinstance(secret, str) else secret)
    ]
    for candidate in signatures.split():
        version, _, encoded = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if any(hmac.compare_digest(given, digest) for digest in expected):
            try:
                return json.loads(body)
            except ValueError:
                raise WebhookVerificationError("the signed body is not JSON") from None
    raise WebhookVerificationError("no signature matches")


def _key(secret: str) -> bytes:
    try:
        encoded = secret.removeprefix(SECRET_PREFIX)
        # Other senders' secrets may come without base64 padding.
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("the secret is not a whsec_ base64 secret") from None


def sign_webhook(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """A `webhook-signature` value for one secret: `v1,<base64 HMAC-SHA256 of id.timestamp.body>`
    (Standard Webhooks, as cancelgate signs its deliveries)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
