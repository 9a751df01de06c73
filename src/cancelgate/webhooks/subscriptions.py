"""Webhook subscription use cases: create, list, read, update, delete, rotate the secret.

Each takes the caller's unit of work and what else it needs as arguments; none commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cancelgate.auth.identity import Principal
from cancelgate.db.database import UnitOfWork
from cancelgate.domain.errors import NotFound, RuleViolation, SubError
from cancelgate.egress import TargetRefused, check_target, system_resolve
from cancelgate.keys import InstanceKeys
from cancelgate.webhooks import repository
from cancelgate.webhooks.repository import SubscriptionRow
from cancelgate.webhooks.schemas import EVENT_TYPES, UpdateSubscriptionCommand
from cancelgate.webhooks.signing import new_secret, seal

ROTATION_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class WithSecret:
    """A subscription and its new signing secret (shown to its owner this once)."""

    subscription: SubscriptionRow
    secret: str


async def owned(uow: UnitOfWork, principal: Principal, subscription_id: int) -> SubscriptionRow:
    """The caller's subscription, or NotFound (the same answer for others' and unknown ids)."""
    found = await repository.subscription_for_tenant(uow, principal.tenant_id, subscription_id)
    if found is None:
        raise NotFound(subscription_id)
    return found


async def checked_url(
    url: str, object_name: str, *, allow_insecure: bool, proxy: str | None
) -> str:
    """The URL if webhooks may be sent there (scheme, host, resolved addresses); else 422."""
    try:
        # Behind an egress proxy, the proxy resolves the name and enforces the rest.
        resolve = None if proxy else system_resolve
        await check_target(url, allow_insecure=allow_insecure, resolve=resolve)
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
    uow: UnitOfWork,
    *,
    principal: Principal,
    url: str,
    events: list[str],
    description: str | None,
    object_name: str,
    keys: InstanceKeys,
    allow_insecure: bool,
    proxy: str | None,
) -> WithSecret:
    """A new enabled subscription with a fresh secret."""
    kinds = checked_events(events, object_name)
    target = await checked_url(url, object_name, allow_insecure=allow_insecure, proxy=proxy)
    secret = new_secret()
    subscription = await repository.add_subscription(
        uow,
        tenant_id=principal.tenant_id,
        url=target,
        events=kinds,
        description=description,
        secret_sealed=seal(keys.sealing_key, secret),
    )
    return WithSecret(subscription, secret)


async def list_all(uow: UnitOfWork, *, principal: Principal) -> list[SubscriptionRow]:
    """The caller's subscriptions."""
    return await repository.subscriptions_of(uow, principal.tenant_id)


async def get(uow: UnitOfWork, *, principal: Principal, subscription_id: int) -> SubscriptionRow:
    """The caller's subscription, or NotFound."""
    return await owned(uow, principal, subscription_id)


async def update(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    subscription_id: int,
    command: UpdateSubscriptionCommand,
    object_name: str,
    allow_insecure: bool,
    proxy: str | None,
) -> SubscriptionRow:
    """Change url, events, description or enabled of the tenant's subscription (the caller's,
    or any for an operator of the installation); re-enabling clears the failure record."""
    url = command.url
    target = (
        await checked_url(url, object_name, allow_insecure=allow_insecure, proxy=proxy)
        if url is not None
        else None
    )
    events = command.events
    kinds = checked_events(events, object_name) if events is not None else None
    updated = await repository.update_subscription(
        uow,
        tenant_id,
        subscription_id,
        url=target,
        events=kinds,
        set_description="description" in command.model_fields_set,
        description=command.description,
        enabled=command.enabled,
    )
    if updated is None:
        raise NotFound(subscription_id)
    return updated


async def delete(uow: UnitOfWork, *, principal: Principal, subscription_id: int) -> None:
    """Remove the subscription and its delivery log."""
    if not await repository.delete_subscription(uow, principal.tenant_id, subscription_id):
        raise NotFound(subscription_id)


async def rotate_secret(
    uow: UnitOfWork, *, principal: Principal, subscription_id: int, keys: InstanceKeys
) -> WithSecret:
    """A new secret; the old one keeps signing too for 24 hours."""
    secret = new_secret()
    rotated = await repository.rotate_secret(
        uow,
        principal.tenant_id,
        subscription_id,
        secret_sealed=seal(keys.sealing_key, secret),
        previous_expires_at=datetime.now(UTC) + ROTATION_GRACE,
    )
    if rotated is None:
        raise NotFound(subscription_id)
    return WithSecret(rotated, secret)
