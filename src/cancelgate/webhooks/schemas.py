"""Wire schemas of webhook subscription commands."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, RootModel

EVENT_TYPES = ("appointment.cancelled", "service.cancelled", "service.cancellation-rejected")


class CreateSubscriptionCommand(BaseModel):
    """Body of POST /api/connect/webhooks/subscriptions."""

    model_config = ConfigDict(extra="ignore")

    url: str = Field(min_length=1, max_length=2000, description="https URL that receives events")
    events: list[str] = Field(
        min_length=1, max_length=len(EVENT_TYPES), description=", ".join(EVENT_TYPES)
    )
    description: str | None = Field(default=None, max_length=500)


class UpdateSubscriptionCommand(BaseModel):
    """Body of PATCH /api/connect/webhooks/subscriptions/{id}: any of these fields."""

    model_config = ConfigDict(extra="ignore")

    url: str | None = Field(default=None, min_length=1, max_length=2000)
    events: list[str] | None = Field(default=None, min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


CREATE_OBJECT = "connectWebhookSubscriptionCommand"
UPDATE_OBJECT = "connectWebhookSubscriptionUpdateCommand"


class SubscriptionBody(BaseModel):
    """A webhook subscription; `secret` only in the answers that create or rotate it."""

    id: int
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabledReason: str | None
    createdAt: str
    updatedAt: str
    secret: str | None = Field(default=None, description="whsec_…, shown once")


class SubscriptionList(RootModel[list[SubscriptionBody]]):
    """The caller's subscriptions."""


class AttemptBody(BaseModel):
    """One delivery attempt."""

    attemptedAt: str
    statusCode: int | None
    latencyMs: int | None
    error: str | None


class DeliveryBody(BaseModel):
    """A delivery of one event to one subscription, with its attempts."""

    id: int
    eventId: str
    eventType: str
    status: str
    nextAttemptAt: str | None
    createdAt: str
    attempts: list[AttemptBody]


class DeliveryList(RootModel[list[DeliveryBody]]):
    """A subscription's latest deliveries."""
