"""Every table model, imported so that Base.metadata knows them all (for migrations and the
tests that compare the models with the migrated schema)."""

from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.auth.models import ApiClient, Tenant, UsedAssertion
from cancelgate.console.models import Operator, OperatorAudit
from cancelgate.db.base import Base
from cancelgate.idempotency.models import IdempotencyRecord
from cancelgate.installation import Installation
from cancelgate.jobs.models import JobAttemptError
from cancelgate.keys import InstanceKey
from cancelgate.services.models import Service, ServiceCancellation
from cancelgate.upstream.csg.sim_models import SimCsgAppointment
from cancelgate.upstream.nbn.sim_models import (
    SimNbnAppointment,
    SimNbnCancellation,
    SimNbnService,
    SimNbnServiceCancellation,
)
from cancelgate.ux.models import ChannelClient, UxAppointment
from cancelgate.webhooks.models import Event, WebhookAttempt, WebhookDelivery, WebhookSubscription

__all__ = [
    "ApiClient",
    "Appointment",
    "AppointmentCancellation",
    "Base",
    "ChannelClient",
    "Event",
    "IdempotencyRecord",
    "Installation",
    "InstanceKey",
    "JobAttemptError",
    "Operator",
    "OperatorAudit",
    "Service",
    "ServiceCancellation",
    "SimCsgAppointment",
    "SimNbnAppointment",
    "SimNbnCancellation",
    "SimNbnService",
    "SimNbnServiceCancellation",
    "Tenant",
    "UsedAssertion",
    "UxAppointment",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
]
