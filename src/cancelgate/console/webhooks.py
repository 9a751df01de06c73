"""The webhooks pages: subscriptions of every tenant (enabled and disabled, with why), their
deliveries with each attempt, and the actions on them: enable or disable a subscription,
redeliver one delivery, replay every failed delivery since a time.

Each action calls the webhooks package's own use case (the API's PATCH and redeliver), scoped
by the tenant the subscription or delivery belongs to: the same effect as the API's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from starlette.responses import Response

from cancelgate.console import repository, webhooks_queries
from cancelgate.console.web import (
    Acting,
    Current,
    CurrentOperator,
    back_to,
    console_router,
    here,
    next_page,
    not_found,
    positive_int,
    refused,
    render,
    text_filter,
    utc_instant,
)
from cancelgate.dependencies import DatabaseDep, SettingsDep, Uow
from cancelgate.domain.errors import NotFound, RuleViolation
from cancelgate.webhooks import deliveries, subscriptions
from cancelgate.webhooks.repository import CANCELLED, FAILED, PENDING, SUCCEEDED
from cancelgate.webhooks.schemas import UPDATE_OBJECT, UpdateSubscriptionCommand

STATUSES = (PENDING, SUCCEEDED, FAILED, CANCELLED)
# A console path to go back to after an action (validated by safe_next).
Next = Annotated[str | None, Form(max_length=2000)]

router = console_router()


# --- subscriptions ------------------------------------------------------------------------------


@router.get("/webhooks")
async def subscriptions_list(
    request: Request,
    operator: CurrentOperator,
    database: DatabaseDep,
    before: str | None = None,
    tenant: str | None = None,
) -> Response:
    """Every tenant's subscriptions, newest first, 50 a page (`?before=<id>`), by tenant."""
    tenant_name = text_filter(tenant)
    rows, cursor = await webhooks_queries.subscriptions_page(
        database, before=positive_int(before), tenant=tenant_name
    )
    shown = {"tenant": tenant_name or ""}
    return render(
        request,
        "webhooks.html",
        {
            "me": operator,
            "rows": rows,
            "filters": shown,
            "next_url": next_page(shown, cursor),
            "here": here(request),
        },
    )


async def _set_enabled(
    request: Request,
    uow: Uow,
    database: DatabaseDep,
    settings: SettingsDep,
    operator: Current,
    subscription_id: str,
    next_: str | None,
    *,
    enabled: bool,
) -> Response:
    number = positive_int(subscription_id)
    tenant_id = (
        None if number is None else await webhooks_queries.subscription_tenant(database, number)
    )
    if number is None or tenant_id is None:
        return not_found(request, operator, "No such subscription.")
    try:
        # The API's PATCH {"enabled": …}: re-enabling clears the failure record.
        await subscriptions.update(
            uow,
            tenant_id=tenant_id,
            subscription_id=number,
            command=UpdateSubscriptionCommand(enabled=enabled),
            object_name=UPDATE_OBJECT,
            allow_insecure=settings.webhook_allow_insecure,
            proxy=settings.webhook_proxy,
        )
    except NotFound:  # deleted meanwhile
        return not_found(request, operator, "No such subscription.")
    await repository.audit(
        uow,
        operator_id=operator.operator_id,
        action="webhook.enable" if enabled else "webhook.disable",
        target=f"subscription:{number}",
        detail={"tenant_id": tenant_id},
    )
    return back_to(next_, "/webhooks")


@router.post("/webhooks/subscriptions/{subscription_id}/disable")
async def disable_subscription(
    request: Request,
    subscription_id: str,
    uow: Uow,
    database: DatabaseDep,
    settings: SettingsDep,
    operator: Acting,
    next: Next = None,
) -> Response:
    """Disable a subscription (as its owner's PATCH would): nothing more is delivered to it."""
    return await _set_enabled(
        request, uow, database, settings, operator, subscription_id, next, enabled=False
    )


@router.post("/webhooks/subscriptions/{subscription_id}/enable")
async def enable_subscription(
    request: Request,
    subscription_id: str,
    uow: Uow,
    database: DatabaseDep,
    settings: SettingsDep,
    operator: Acting,
    next: Next = None,
) -> Response:
    """Enable a subscription again (its disabled reason and failure record cleared)."""
    return await _set_enabled(
        request, uow, database, settings, operator, subscription_id, next, enabled=True
    )


# --- deliveries ---------------------------------------------------------------------------------


@router.get("/webhooks/deliveries")
async def deliveries_list(
    request: Request,
    operator: CurrentOperator,
    database: DatabaseDep,
    before: str | None = None,
    subscription: str | None = None,
    status: str | None = None,
) -> Response:
    """Every tenant's deliveries, newest first, 50 a page, by subscription and status; and the
    replay form."""
    status_name = (text_filter(status) or "").lower() or None
    if status_name is not None and status_name not in STATUSES:
        return refused(request, operator, f"Unknown status; use one of {', '.join(STATUSES)}.")
    subscription_id = positive_int(subscription)
    rows, cursor = await webhooks_queries.deliveries_page(
        database, before=positive_int(before), subscription=subscription_id, status=status_name
    )
    shown = {"subscription": str(subscription_id or ""), "status": status_name or ""}
    return render(
        request,
        "webhook_deliveries.html",
        {
            "me": operator,
            "rows": rows,
            "filters": shown,
            "statuses": STATUSES,
            "next_url": next_page(shown, cursor),
            "replay_limit": webhooks_queries.REPLAY_LIMIT,
        },
    )


@router.get("/deliveries/{delivery_id}")
async def delivery_page(
    request: Request, delivery_id: str, operator: CurrentOperator, database: DatabaseDep
) -> Response:
    """One delivery, its subscription, and every attempt (status code, latency, error)."""
    number = positive_int(delivery_id)
    found = None if number is None else await webhooks_queries.delivery_detail(database, number)
    if found is None:
        return not_found(request, operator, "No such delivery.")
    return render(request, "delivery.html", {"me": operator, "d": found, "here": here(request)})


@router.post("/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request,
    delivery_id: str,
    uow: Uow,
    database: DatabaseDep,
    operator: Acting,
    next: Next = None,
) -> Response:
    """Send the delivery again (the API's redeliver: same webhook-id, a job the worker runs);
    then back to `next` (a console path) or the delivery's page."""
    number = positive_int(delivery_id)
    owner = None if number is None else await webhooks_queries.delivery_owner(database, number)
    if number is None or owner is None:
        return not_found(request, operator, "No such delivery.")
    tenant_id, subscription_id = owner
    try:
        await deliveries.redeliver(
            uow, tenant_id=tenant_id, subscription_id=subscription_id, delivery_id=number
        )
    except NotFound:
        return not_found(request, operator, "No such delivery.")
    except RuleViolation as exc:  # its subscription is disabled; nothing was changed
        return refused(request, operator, str(exc), 422)
    await repository.audit(
        uow,
        operator_id=operator.operator_id,
        action="webhook.redeliver",
        target=f"delivery:{number}",
        detail={"tenant_id": tenant_id, "subscription_id": subscription_id},
    )
    return back_to(next, f"/deliveries/{number}")


@router.post("/webhooks/replay")
async def replay(
    request: Request,
    uow: Uow,
    database: DatabaseDep,
    operator: Acting,
    tenant: Annotated[str, Form(max_length=100)] = "",
    subscription: Annotated[str, Form(max_length=20)] = "",
    since: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Redeliver every failed delivery of a tenant or of one subscription created since a
    time (UTC), at most REPLAY_LIMIT an action; say how many were queued."""
    tenant_name, subscription_text = tenant.strip(), subscription.strip()
    if bool(tenant_name) == bool(subscription_text):
        return refused(request, operator, "Give a tenant or a subscription (one of them).")
    instant = utc_instant(since.strip())
    if instant is None:
        return refused(request, operator, "Give the time as YYYY-MM-DDTHH:MM (UTC).")
    subscription_id: int | None = None
    if subscription_text:
        if not subscription_text.isdigit() or not 0 < int(subscription_text) < 2**31:
            return refused(request, operator, "A subscription is its numeric id.")
        subscription_id = int(subscription_text)
        tenant_id = await webhooks_queries.subscription_tenant(database, subscription_id)
        target = f"subscription:{subscription_id}"
    else:
        tenant_id = await webhooks_queries.tenant_id_of(database, tenant_name)
        target = f"tenant:{tenant_name}"
    if tenant_id is None:
        return not_found(request, operator, "No such tenant or subscription.")
    found = await webhooks_queries.failed_since(
        database, tenant_id=tenant_id, subscription=subscription_id, since=instant
    )
    queued = 0
    for delivery_id, owner in found:
        try:
            await deliveries.redeliver(
                uow, tenant_id=tenant_id, subscription_id=owner, delivery_id=delivery_id
            )
        except (NotFound, RuleViolation):
            # Deleted or disabled since it was read: refused before anything was written.
            continue
        queued += 1
    await repository.audit(
        uow,
        operator_id=operator.operator_id,
        action="webhook.replay",
        target=target,
        detail={"since": instant.isoformat(), "count": queued},
    )
    return render(
        request,
        "webhook_replay.html",
        {
            "me": operator,
            "queued": queued,
            "target": target,
            "since": instant,
            "subscription": subscription_id,
            "limit": webhooks_queries.REPLAY_LIMIT,
            "more": len(found) == webhooks_queries.REPLAY_LIMIT,
        },
    )
