"""Webhook subscriptions over HTTP: create (secret once), list, get, update, rotate, delete."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from cancelgate.webhooks.models import WebhookSubscription
from tests.api.checks import assert_error, assert_security_headers
from tests.api.conftest import Caller
from tests.support import SUBSCRIPTIONS

HOOK = "http://127.0.0.1:9/hook"


async def create(caller: Caller, **body: Any) -> httpx.Response:
    payload = {"url": HOOK, "events": ["appointment.cancelled"], **body}
    return await caller.http.post(SUBSCRIPTIONS, json=payload, headers=caller.headers())


async def test_create_shows_the_secret_once_and_stores_it_sealed(caller: Caller) -> None:
    response = await create(
        caller, description="orders", events=["service.cancelled", "appointment.cancelled"]
    )
    assert response.status_code == 201, response.text
    assert_security_headers(response)
    body = response.json()
    assert response.headers["location"] == f"{SUBSCRIPTIONS}/{body['id']}"
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["appointment.cancelled", "service.cancelled"]
    assert (body["url"], body["description"], body["enabled"]) == (HOOK, "orders", True)
    shown = await caller.http.get(response.headers["location"], headers=caller.headers())
    assert shown.status_code == 200 and "secret" not in shown.json()
    listed = await caller.http.get(SUBSCRIPTIONS, headers=caller.headers())
    assert [s["id"] for s in listed.json()] == [body["id"]]
    async with caller.db() as session:
        row = (
            await session.execute(
                select(WebhookSubscription).where(WebhookSubscription.id == body["id"])
            )
        ).scalar_one()
    assert body["secret"] not in row.secret_sealed


async def test_refused_urls_and_events(caller: Caller) -> None:
    for url in ("http://10.0.0.1/hook", "http://169.254.169.254/", "ftp://x.example/", "nope"):
        response = await create(caller, url=url)
        body = assert_error(response, 422, "client.validation", "validation")
        assert body["apiSubErrors"][0]["code"] == "constraints.webhook.url.refused"
        assert body["apiSubErrors"][0]["field"] == "url"
    response = await create(caller, events=["appointment.cancelled", "everything"])
    body = assert_error(response, 422, "client.validation", "validation")
    assert body["apiSubErrors"][0]["rejectedValue"] == ["everything"]
    missing = await caller.http.post(SUBSCRIPTIONS, json={"url": HOOK}, headers=caller.headers())
    assert_error(missing, 422, "client.validation", "method.argument.not.valid")


async def test_update_rotate_delete(caller: Caller) -> None:
    created = (await create(caller)).json()
    path = f"{SUBSCRIPTIONS}/{created['id']}"
    patched = await caller.http.patch(
        path,
        json={"enabled": False, "events": ["service.cancellation-rejected"]},
        headers=caller.headers(),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False
    assert patched.json()["disabledReason"] == "disabled by its owner"
    assert patched.json()["events"] == ["service.cancellation-rejected"]
    again = await caller.http.patch(path, json={"enabled": True}, headers=caller.headers())
    assert again.json()["enabled"] is True and again.json()["disabledReason"] is None
    rotated = await caller.http.post(f"{path}/rotate-secret", headers=caller.headers())
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != created["secret"]
    async with caller.db() as session:
        row = await session.get(WebhookSubscription, created["id"])
    assert row is not None and row.previous_secret_sealed is not None
    assert row.previous_secret_expires_at is not None
    deleted = await caller.http.delete(path, headers=caller.headers())
    assert deleted.status_code == 204
    assert_error(
        await caller.http.get(path, headers=caller.headers()),
        404,
        "business.rule",
        "resource.not.found",
    )


async def test_a_tenant_sees_only_its_own(caller: Caller, other_caller: Caller) -> None:
    created = (await create(caller)).json()
    path = f"{SUBSCRIPTIONS}/{created['id']}"
    for response in (
        await other_caller.http.get(path, headers=other_caller.headers()),
        await other_caller.http.patch(
            path, json={"enabled": False}, headers=other_caller.headers()
        ),
        await other_caller.http.post(f"{path}/rotate-secret", headers=other_caller.headers()),
        await other_caller.http.delete(path, headers=other_caller.headers()),
    ):
        assert_error(response, 404, "business.rule", "resource.not.found")
    listed = await other_caller.http.get(SUBSCRIPTIONS, headers=other_caller.headers())
    assert listed.json() == []
    assert (await caller.http.get(path, headers=caller.headers())).json()["enabled"] is True
