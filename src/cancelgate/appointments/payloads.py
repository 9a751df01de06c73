"""Wire shapes of appointments: the appointment-cancellation resource, the webhook payload."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cancelgate.appointments.repository import AppointmentRow, Outcome
from cancelgate.connect.formats import instant


def cancellation_resource(outcome: Outcome) -> dict[str, Any]:
    """The appointment-cancellation resource of a completed request."""
    return {
        "id": outcome.id,
        "appointmentId": outcome.appointment_id,
        "nbnAppointmentId": outcome.nbn_appointment_id,
        "cancelledOn": instant(outcome.cancelled_on),
        "requestedOn": instant(outcome.requested_on),
    }


def appointment_cancelled_payload(
    appointment: AppointmentRow, *, status: str, cancelled_on: datetime
) -> dict[str, Any]:
    """The AppointmentCancelled notification: the appointment's configuration and service, as
    it stands once cancelled (`status`, `cancelled_on`)."""
    return {
        "orderId": appointment.order_id,
        "id": appointment.id,
        "nbnAppointmentId": appointment.nbn_appointment_id,
        "status": status,
        "startTime": instant(appointment.start_time),
        "endTime": instant(appointment.end_time),
        "slotType": appointment.slot_type,
        "timezoneOffset": appointment.timezone_offset,
        "priorityAssist": appointment.priority_assist,
        "eSla": appointment.e_sla,
        "demandType": appointment.demand_type,
        "contact": appointment.contact,
        "customerRef": appointment.customer_ref,
        "cancelledOn": instant(cancelled_on),
        "serviceId": appointment.service_id,
    }
