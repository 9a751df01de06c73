"""Wire schemas of appointment-cancellation commands."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from cancelgate.connect.paths import INT_MAX, INT_MIN


class AppointmentCancellationCommand(BaseModel):
    """Body of POST …/appointment-cancellations/request."""

    model_config = ConfigDict(extra="ignore")

    appointmentId: int = Field(ge=INT_MIN, le=INT_MAX, description="The id of the appointment")


COMMAND_OBJECT = "connectAppointmentCancellationRequestCommand"


class AppointmentCancellationBody(BaseModel):
    """The appointment-cancellation resource (200 of GET …/requests/{id})."""

    id: int
    appointmentId: int
    nbnAppointmentId: str
    cancelledOn: str | None
    requestedOn: str
