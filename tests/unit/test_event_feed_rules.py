"""The wire shapes the events feed shares with webhook deliveries, and which listener key a
notification wakes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from cancelgate.db.listener import CHANNEL, EVENTS_CHANNEL, events_key, key_of
from cancelgate.webhooks.delivery import USER_AGENT, build_request, event_body, event_headers
from cancelgate.webhooks.feed import KEEP_ALIVE, sse_message
from cancelgate.webhooks.repository import EventRow, SubscriptionRow
from cancelgate.webhooks.signing import new_secret

NOW = datetime.now(UTC)
EVENT = EventRow(
    uuid.uuid4(),
    "service.cancellation-rejected",
    "service",
    {"serviceId": 7, "reason": "line one\nline two\u2028", "detail": {"b": 1, "a": 2}},
)


def subscription() -> SubscriptionRow:
    return SubscriptionRow(
        1, 1, "https://example.com/hook", [EVENT.type], None, True, None,
        "sealed", None, None, None, NOW, NOW,
    )  # fmt: skip


def test_a_delivery_is_the_events_own_headers_plus_the_senders_and_the_attempts() -> None:
    secret = new_secret()
    # Signed now: the verifier refuses a timestamp more than five minutes off.
    outgoing = build_request(subscription(), EVENT, [secret], datetime.now(UTC))
    own = event_headers(EVENT)
    assert own == {
        "Content-Type": "application/json",
        "z-event-type": "service.cancellation-rejected.event",
        "z-notification-type": "service.cancellation-rejected.notification",
        "z-notification-model": "service",
        "webhook-id": str(EVENT.id),
    }
    added = {k: v for k, v in outgoing.headers.items() if k not in own}
    assert {k: outgoing.headers[k] for k in own} == own
    assert set(added) == {"User-Agent", "webhook-timestamp", "webhook-signature"}
    assert added["User-Agent"] == USER_AGENT
    assert outgoing.body == event_body(EVENT)
    assert Webhook(secret).verify(outgoing.body, outgoing.headers) == EVENT.payload


def test_the_body_is_compact_json_in_the_payloads_order() -> None:
    body = event_body(EVENT)
    assert body == json.dumps(EVENT.payload, separators=(",", ":")).encode()
    assert list(json.loads(body)["detail"]) == ["b", "a"]


def test_a_server_sent_event_is_the_delivery_body_on_one_data_line() -> None:
    message = sse_message(EVENT)
    assert message.endswith(b"\n\n")
    lines = message[:-2].split(b"\n")
    assert lines == [
        b"id: " + str(EVENT.id).encode(),
        b"event: service.cancellation-rejected",
        b"data: " + event_body(EVENT),
    ]
    # The payload's own line breaks (and U+2028) are escaped, never raw.
    assert b"\r" not in message and "\u2028".encode() not in message
    assert KEEP_ALIVE == b": keep-alive\n\n"


def test_outcomes_wake_their_key_and_events_wake_their_tenant() -> None:
    assert key_of(CHANNEL, "appointment-cancellation:12") == "appointment-cancellation:12"
    assert key_of(CHANNEL, "service:7") == "service:7"
    assert key_of(EVENTS_CHANNEL, "42:1001") == events_key(42) == "events:42"
    assert key_of(EVENTS_CHANNEL, "42:1002") == key_of(EVENTS_CHANNEL, "42:7")
    assert key_of(EVENTS_CHANNEL, "4:1") != key_of(EVENTS_CHANNEL, "42:1")
