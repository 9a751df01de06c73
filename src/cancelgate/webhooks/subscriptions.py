"""Webhook subscription use cases: create, list, read, update, delete, rotate the secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.auth.principal import Principal
from cancelgate.domain.errors import NotFound, RuleViolation, SubError
from cancelgate.egress import TargetRefused, check_target, system_resolve
from cancelgate.runtime import Runtime
from cancelgate.webhooks import repository
from cancelgate.webhooks.models import WebhookSubscription
from cancelgate.webhooks.schemas import EVENT_TYPES, UpdateSubscriptionCommand
from cancelgate.webhooks.signing import new_secret, seal

ROTATION_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class WithSecret:
    """A subscription and its new signing secret (shown to its owner this once)."""

    subscription: WebhookSubscription
    secret: str


async def owned(
    session: AsyncSession, principal: Principal, subscription_id: int
) -> WebhookSubscription:
    """The caller's subscription, or NotFound (the same answer for others' and unknown ids)."""
    found = await repository.subscription_for_tenant(session, principal.tenant_id, subscription_id)
    if found is None:
        raise NotFound(subscription_id)
    return found


async def checked_url(runtime: Runtime, url: str, object_name: str) -> str:
    """The URL if webhooks may be sent there (scheme, host, resolved addresses); else 422."""
    try:
        settings = runtime.settings
        # Behind an egress proxy, the proxy resolves the name and enforces the rest.
        resolve = None if settings.webhook_proxy else system_resolve
        await check_target(url, allow_insecure=settings.webhook_allow_insecure, resolve=resolve)
    except TargetRefused as exc:
        raise RuleViolation(
            [SubError("constraints.webhook.url.refused", str(exc), object_name, "url", url)]
        ) from None
    return url


def checked_events(events: list[str], object_name: str) -> list[str]:
    """The event types, deduplicated, if all are known; else 422."""
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        message = f"unknown event type; use {', '.join(EVENT_TYPES)}"
        raise RuleViolation(
            [SubError("constraints.webhook.event.unknown", message, object_name, "events", unknown)]
        )
    return sorted(set(events))


async def create(
    runtime: Runtime,
    *,
    principal: Principal,
    url: str,
    events: list[str],
    description: str | None,
    object_name: str,
) -> WithSecret:
    """A new enabled subscription with a fresh secret."""
    kinds = checked_events(events, object_name)
    target = await checked_url(runtime, url, object_name)
    secret = new_secret()
    async with runtime.sessions.begin() as session:
        subscription = WebhookSubscription(
            tenant_id=principal.tenant_id,
            url=target,
            events=kinds,
            description=description,
            enabled=True,
            secret_sealed=seal(runtime.keys.sealing_key, secret),
        )
        session.add(subscription)
        await session.flush()
    return WithSecret(subscription, secret)


async def list_all(runtime: Runtime, *, principal: Principal) -> list[WebhookSubscription]:
    """The caller's subscriptions."""
    async with runtime.sessions() as session:
        return await repository.subscriptions_of(session, principal.tenant_id)


async def get(
    runtime: Runtime, *, principal: Principal, subscription_id: int
) -> WebhookSubscription:
    """The caller's subscription, or NotFound."""
    async with runtime.sessions() as session:
        return await owned(session, principal, subscription_id)


async def update(
    runtime: Runtime,
    *,
    principal: Principal,
    subscription_id: int,
    command: UpdateSubscriptionCommand,
    object_name: str,
) -> WebhookSubscription:
    """Change url, events, description or enabled; re-enabling clears the failure record."""
    url = command.url
    target = await checked_url(runtime, url, object_name) if url is not None else None
    events = command.events
    kinds = checked_events(events, object_name) if events is not None else None
    async with runtime.sessions.begin() as session:
        found = await owned(session, principal, subscription_id)
        if target is not None:
            found.url = target
        if kinds is not None:
            found.events = kinds
        if "description" in command.model_fields_set:
            found.description = command.description
        enabled = command.enabled
        if enabled is not None and enabled != found.enabled:
            found.enabled = enabled
            found.disabled_reason = None if enabled else "disabled by its owner"
            found.failing_since = None
        await session.flush()
        await session.refresh(found)  # server-set updated_at, before the session closes
        return found


async def delete(runtime: Runtime, *, principal: Principal, subscription_id: int) -> None:
    """Remove the subscription and its delivery log."""
    async with runtime.sessions.begin() as session:
        found = await owned(session, principal, subscription_id)
        await session.delete(found)


async def rotate_secret(
    runtime: Runtime, *, principal: Principal, subscription_id: int
) -> WithSecret:
    """A new secret; the old one keeps signing too for 24 hours."""
    secret = new_secret()
    async with runtime.sessions.begin() as session:
        found = await owned(session, principal, subscription_id)
        found.previous_secret_sealed = found.secret_sealed
        found.previous_secret_expires_at = datetime.now(UTC) + ROTATION_GRACE
        found.secret_sealed = seal(runtime.keys.sealing_key, secret)
        await session.flush()
        await session.refresh(found)
    return WithSecret(found, secret)
