"""Wire shapes of appointments: the appointment-cancellation resource, the webhook payload."""

from __future__ import annotations

from typing import Any

from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.connect.formats import instant


def cancellation_resource(
    cancellation: AppointmentCancellation, appointment: Appointment
) -> dict[str, Any]:
    """The appointment-cancellation resource of a completed request."""
    return {
        "id": cancellation.id,
        "appointmentId": appointment.id,
        "nbnAppointmentId": appointment.nbn_appointment_id,
        "cancelledOn": instant(cancellation.cancelled_on),
        "requestedOn": instant(cancellation.requested_on),
    }


def appointment_cancelled_payload(appointment: Appointment) -> dict[str, Any]:
    """The AppointmentCancelled notification: the appointment's configuration and service."""
    return {
        "orderId": appointment.order_id,
        "id": appointment.id,
        "nbnAppointmentId": appointment.nbn_appointment_id,
        "status": appointment.status,
        "startTime": instant(appointment.start_time),
        "endTime": instant(appointment.end_time),
        "slotType": appointment.slot_type,
        "timezoneOffset": appointment.timezone_offset,
        "priorityAssist": appointment.priority_assist,
        "eSla": appointment.e_sla,
        "demandType": appointment.demand_type,
        "contact": appointment.contact,
        "customerRef": appointment.customer_ref,
        "cancelledOn": instant(appointment.cancelled_on),
        "serviceId": appointment.service_id,
    }
