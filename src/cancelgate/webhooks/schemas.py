"""Wire schemas of webhook subscription commands."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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
