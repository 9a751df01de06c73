"""Wire shapes of appointments, one definition each for the response, the webhook payload and
the OpenAPI document: the command, the appointment-cancellation resource, AppointmentCancelled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cancelgate.appointments.repository import AppointmentRow, Outcome
from cancelgate.connect.formats import instant
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


class AppointmentCancelledBody(BaseModel):
    """The AppointmentCancelled notification (the `appointment.cancelled` webhook's payload):
    the appointment's configuration and service as it stands once cancelled."""

    orderId: int
    id: int
    nbnAppointmentId: str
    status: str
    startTime: str
    endTime: str
    slotType: str
    timezoneOffset: str
    priorityAssist: bool
    eSla: str
    demandType: str
    contact: dict[str, Any]
    customerRef: str | None
    cancelledOn: str
    serviceId: int | None


def appointment_cancellation_body(outcome: Outcome) -> AppointmentCancellationBody:
    """The appointment-cancellation resource of a completed request."""
    return AppointmentCancellationBody(
        id=outcome.id,
        appointmentId=outcome.appointment_id,
        nbnAppointmentId=outcome.nbn_appointment_id,
        cancelledOn=instant(outcome.cancelled_on),
        requestedOn=instant(outcome.requested_on),
    )


def appointment_cancelled_body(
    appointment: AppointmentRow, *, status: str, cancelled_on: datetime
) -> AppointmentCancelledBody:
    """The AppointmentCancelled notification of an appointment cancelled at `cancelled_on`."""
    return AppointmentCancelledBody(
        orderId=appointment.order_id,
        id=appointment.id,
        nbnAppointmentId=appointment.nbn_appointment_id,
        status=status,
        startTime=instant(appointment.start_time),
        endTime=instant(appointment.end_time),
        slotType=appointment.slot_type,
        timezoneOffset=appointment.timezone_offset,
        priorityAssist=appointment.priority_assist,
        eSla=appointment.e_sla,
        demandType=appointment.demand_type,
        contact=appointment.contact,
        customerRef=appointment.customer_ref,
        cancelledOn=instant(cancelled_on),
        serviceId=appointment.service_id,
    )
