"""Connect API: webhook subscriptions (bearer token, X-API-VERSION, standard errors)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from cancelgate.auth.principal import Caller
from cancelgate.connect.body import read_command
from cancelgate.connect.formats import instant
from cancelgate.connect.openapi import (
    COMMAND,
    LOCATION,
    READ,
    answer,
    connect_errors,
    json_body,
)
from cancelgate.connect.paths import path_id
from cancelgate.connect.versions import WEBHOOK_VERSIONS, api_version
from cancelgate.dependencies import Keys, SettingsDep, Uow
from cancelgate.webhooks import deliveries, subscriptions
from cancelgate.webhooks.deliveries import DeliveryView
from cancelgate.webhooks.repository import SubscriptionRow
from cancelgate.webhooks.schemas import (
    CREATE_OBJECT,
    UPDATE_OBJECT,
    CreateSubscriptionCommand,
    DeliveryBody,
    DeliveryList,
    SubscriptionBody,
    SubscriptionList,
    UpdateSubscriptionCommand,
)

PREFIX = "/api/connect/webhooks/subscriptions"
router = APIRouter(prefix=PREFIX, tags=["Connect: webhooks"])
version = api_version(WEBHOOK_VERSIONS)


def subscription_resource(
    subscription: SubscriptionRow, secret: str | None = None
) -> dict[str, Any]:
    """A subscription as its owner sees it; the secret only when just created or rotated."""
    body: dict[str, Any] = {
        "id": subscription.id,
        "url": subscription.url,
        "events": subscription.events,
        "description": subscription.description,
        "enabled": subscription.enabled,
        "disabledReason": subscription.disabled_reason,
        "createdAt": instant(subscription.created_at),
        "updatedAt": instant(subscription.updated_at),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def delivery_resource(view: DeliveryView) -> dict[str, Any]:
    """A delivery with every attempt (time, status code, latency, error)."""
    d = view.delivery
    return {
        "id": d.id,
        "eventId": str(d.event_id),
        "eventType": view.event_type,
        "status": d.status,
        "nextAttemptAt": instant(d.next_attempt_at),
        "createdAt": instant(d.created_at),
        "attempts": [
            {
                "attemptedAt": instant(a.attempted_at),
                "statusCode": a.status_code,
                "latencyMs": a.latency_ms,
                "error": a.error,
            }
            for a in view.attempts
        ],
    }


def delivery_accepted(subscription_id: int, view: DeliveryView) -> JSONResponse:
    """202 with the delivery, pointing at the subscription's delivery log."""
    headers = {"Location": f"{PREFIX}/{subscription_id}/deliveries"}
    return JSONResponse(delivery_resource(view), status_code=202, headers=headers)


@router.post(
    "",
    status_code=201,
    openapi_extra=json_body(CreateSubscriptionCommand),
    responses=answer(201, "Created; the secret is shown this once", SubscriptionBody, LOCATION)
    | connect_errors(*COMMAND),
)
async def create_subscription(
    request: Request,
    principal: Caller,
    uow: Uow,
    keys: Keys,
    settings: SettingsDep,
    _version: int = Depends(version),
) -> Response:
    """201 with the subscription and its signing secret (shown this once) and `Location`."""
    command = await read_command(request, CreateSubscriptionCommand, CREATE_OBJECT)
    created = await subscriptions.create(
        uow,
        principal=principal,
        url=command.url,
        events=command.events,
        description=command.description,
        object_name=CREATE_OBJECT,
        keys=keys,
        allow_insecure=settings.webhook_allow_insecure,
        proxy=settings.webhook_proxy,
    )
    body = subscription_resource(created.subscription, created.secret)
    location = f"{PREFIX}/{created.subscription.id}"
    return JSONResponse(body, status_code=201, headers={"Location": location})


@router.get(
    "",
    responses=answer(200, "The caller's subscriptions", SubscriptionList)
    | connect_errors(400, 401),
)
async def list_subscriptions(
    principal: Caller,
    uow: Uow,
    _version: int = Depends(version),
) -> Response:
    """The caller's subscriptions."""
    found = await subscriptions.list_all(uow, principal=principal)
    return JSONResponse([subscription_resource(s) for s in found])


@router.get(
    "/{subscription_id}",
    responses=answer(200, "The subscription", SubscriptionBody) | connect_errors(*READ),
)
async def get_subscription(
    subscription_id: str,
    principal: Caller,
    uow: Uow,
    _version: int = Depends(version),
) -> Response:
    """One of the caller's subscriptions; 404 otherwise."""
    found = await subscriptions.get(
        uow, principal=principal, subscription_id=path_id(subscription_id)
    )
    return JSONResponse(subscription_resource(found))


@router.patch(
    "/{subscription_id}",
    openapi_extra=json_body(UpdateSubscriptionCommand),
    responses=answer(200, "The updated subscription", SubscriptionBody)
    | connect_errors(*READ, 413, 415, 422),
)
async def update_subscription(
    subscription_id: str,
    request: Request,
    principal: Caller,
    uow: Uow,
    settings: SettingsDep,
    _version: int = Depends(version),
) -> Response:
    """Change url, events, description or enabled."""
    sid = path_id(subscription_id)
    command = await read_command(request, UpdateSubscriptionCommand, UPDATE_OBJECT)
    updated = await subscriptions.update(
        uow,
        tenant_id=principal.tenant_id,
        subscription_id=sid,
        command=command,
        object_name=UPDATE_OBJECT,
        allow_insecure=settings.webhook_allow_insecure,
        proxy=settings.webhook_proxy,
    )
    return JSONResponse(subscription_resource(updated))


@router.delete(
    "/{subscription_id}",
    status_code=204,
    responses=answer(204, "Deleted") | connect_errors(*READ),
)
async def delete_subscription(
    subscription_id: str,
    principal: Caller,
    uow: Uow,
    _version: int = Depends(version),
) -> Response:
    """204; its deliveries go with it."""
    await subscriptions.delete(uow, principal=principal, subscription_id=path_id(subscription_id))
    return Response(status_code=204)


@router.post(
    "/{subscription_id}/rotate-secret",
    responses=answer(200, "The new secret, shown this once", SubscriptionBody)
    | connect_errors(*READ, 409, 422),
)
async def rotate_secret(
    subscription_id: str,
    principal: Caller,
    uow: Uow,
    keys: Keys,
    _version: int = Depends(version),
) -> Response:
    """A new secret (shown this once); the old one keeps signing for 24 hours."""
    rotated = await subscriptions.rotate_secret(
        uow, principal=principal, subscription_id=path_id(subscription_id), keys=keys
    )
    return JSONResponse(subscription_resource(rotated.subscription, rotated.secret))


@router.post(
    "/{subscription_id}/test",
    status_code=202,
    responses=answer(202, "A webhook.test delivery, on its way", DeliveryBody, LOCATION)
    | connect_errors(*READ, 409, 422),
)
async def send_test_event(
    subscription_id: str,
    principal: Caller,
    uow: Uow,
    _version: int = Depends(version),
) -> Response:
    """202 with the delivery of a `webhook.test` event to this subscription."""
    sid = path_id(subscription_id)
    view = await deliveries.send_test_event(uow, principal=principal, subscription_id=sid)
    return delivery_accepted(sid, view)


@router.get(
    "/{subscription_id}/deliveries",
    responses=answer(200, "The latest deliveries, newest first", DeliveryList)
    | connect_errors(*READ),
)
async def list_deliveries(
    subscription_id: str,
    principal: Caller,
    uow: Uow,
    _version: int = Depends(version),
) -> Response:
    """The latest 100 deliveries, newest first, each with its attempts."""
    views = await deliveries.delivery_log(
        uow, principal=principal, subscription_id=path_id(subscription_id)
    )
    return JSONResponse([delivery_resource(v) for v in views])


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    responses=answer(202, "Sent again, same webhook-id", DeliveryBody, LOCATION)
    | connect_errors(*READ, 409, 422),
)
async def redeliver(
    subscription_id: str,
    delivery_id: str,
    principal: Caller,
    uow: Uow,
    _version: int = Depends(version),
) -> Response:
    """202: the delivery is sent again (same webhook-id); 422 if the subscription is disabled."""
    sid = path_id(subscription_id)
    view = await deliveries.redeliver(
        uow,
        tenant_id=principal.tenant_id,
        subscription_id=sid,
        delivery_id=path_id(delivery_id),
    )
    return delivery_accepted(sid, view)
