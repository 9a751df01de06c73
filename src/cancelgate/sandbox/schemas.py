"""Wire shapes of the sandbox's fixtures: the scenario catalogue, the commands that make fixtures
on demand, and the fixtures they answer (one definition each for the response and the OpenAPI
document)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel
from pydantic_core import PydanticCustomError

from cancelgate.sandbox.fixtures import (
    APPOINTMENT_SCENARIOS,
    MAX_COUNT,
    SERVICE_SCENARIOS,
    UX_SCENARIOS,
    AppointmentFixture,
    ServiceFixture,
    UxAppointmentFixture,
)
from cancelgate.upstream.csg import scenarios as csg_scenarios
from cancelgate.upstream.nbn import scenarios as nbn_scenarios
from cancelgate.upstream.nbn import service_scenarios

UNKNOWN_SCENARIO = "constraints.sandbox.scenario.unknown"
NOT_ON_DEMAND = "constraints.sandbox.scenario.not.on.demand"
# Scenarios whose fixtures belong to another tenant: `serve --demo` seeds them; a caller's
# fixtures are the caller's own.
OTHER_TENANT = frozenset({nbn_scenarios.OTHER_TENANT, service_scenarios.OTHER_TENANT})

APPOINTMENTS_OBJECT = "sandboxAppointmentFixturesCommand"
SERVICES_OBJECT = "sandboxServiceFixturesCommand"


# --- the catalogue ------------------------------------------------------------------------------


class SandboxScenario(BaseModel):
    """A scenario a fixture plays: what the fixture is, and what a cancellation of it does."""

    scenario: str = Field(examples=["booked"])
    description: str
    outcome: str


class SandboxScenarioCatalogue(BaseModel):
    """Every scenario, by kind of fixture (the names are a public contract)."""

    appointments: list[SandboxScenario]
    services: list[SandboxScenario]
    ux: list[SandboxScenario]


def _described(names: tuple[str, ...], about: dict[str, tuple[str, str]]) -> list[SandboxScenario]:
    return [
        SandboxScenario(scenario=n, description=about[n][0], outcome=about[n][1]) for n in names
    ]


# Built once: the scenario modules are its one source (the README's tables say the same).
CATALOGUE = SandboxScenarioCatalogue(
    appointments=_described(nbn_scenarios.SCENARIOS, nbn_scenarios.ABOUT),
    services=_described(service_scenarios.SCENARIOS, service_scenarios.ABOUT),
    ux=_described(csg_scenarios.SCENARIOS, csg_scenarios.ABOUT),
)


# --- commands -----------------------------------------------------------------------------------


def _one_of(names: tuple[str, ...]) -> Callable[[str], str]:
    """A validator accepting these scenario names, worded as a Connect validation sub-error."""

    def known(value: str) -> str:
        if value in names:
            return value
        if value in OTHER_TENANT:
            raise PydanticCustomError(
                NOT_ON_DEMAND,
                "is seeded by serve --demo only: fixtures made on demand are the caller's own",
            )
        raise PydanticCustomError(
            UNKNOWN_SCENARIO, "must be one of: {names}", {"names": ", ".join(names)}
        )

    return known


def _scenario_field(names: tuple[str, ...]) -> Any:
    return Field(description="The scenario the fixtures play", json_schema_extra={"enum": [*names]})


AppointmentScenario = Annotated[
    str, AfterValidator(_one_of(APPOINTMENT_SCENARIOS)), _scenario_field(APPOINTMENT_SCENARIOS)
]
ServiceScenario = Annotated[
    str, AfterValidator(_one_of(SERVICE_SCENARIOS)), _scenario_field(SERVICE_SCENARIOS)
]
UxScenario = Annotated[str, AfterValidator(_one_of(UX_SCENARIOS)), _scenario_field(UX_SCENARIOS)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT, description=f"How many (1 to {MAX_COUNT})")]


class AppointmentFixturesCommand(BaseModel):
    """Body of POST /api/connect/sandbox/appointments."""

    model_config = ConfigDict(extra="ignore")

    scenario: AppointmentScenario
    count: Count = 1


class ServiceFixturesCommand(BaseModel):
    """Body of POST /api/connect/sandbox/services."""

    model_config = ConfigDict(extra="ignore")

    scenario: ServiceScenario
    count: Count = 1


class UxAppointmentFixturesCommand(BaseModel):
    """Body of POST /ecom-ux/v1/{businessId}/sandbox/appointments."""

    model_config = ConfigDict(extra="ignore")

    scenario: UxScenario
    count: Count = 1


# --- what they make -----------------------------------------------------------------------------


class AppointmentFixtureBody(BaseModel):
    """An appointment made on demand: cancel it by `appointmentId`."""

    appointmentId: int
    nbnAppointmentId: str
    scenario: str


class AppointmentFixtureList(RootModel[list[AppointmentFixtureBody]]):
    """The appointments made, in the order made."""


class ServiceFixtureBody(BaseModel):
    """A service made on demand: cancel it by `serviceId`."""

    serviceId: int
    nbnServiceId: str
    scenario: str


class ServiceFixtureList(RootModel[list[ServiceFixtureBody]]):
    """The services made, in the order made."""


class UxAppointmentFixtureBody(BaseModel):
    """A UX appointment made on demand: PATCH /ecom-ux/v1/{businessId}/appointment/{id}."""

    id: str
    businessId: str
    orderClass: str = Field(examples=["S"])
    billingAccount: str | None = Field(description="The account an orderClass S PATCH names")
    scenario: str


class UxAppointmentFixtureList(RootModel[list[UxAppointmentFixtureBody]]):
    """The UX appointments made, in the order made."""


def appointment_fixture_body(fixture: AppointmentFixture) -> dict[str, Any]:
    """An appointment fixture as the API shows it."""
    return AppointmentFixtureBody(
        appointmentId=fixture.id,
        nbnAppointmentId=fixture.nbn_appointment_id,
        scenario=fixture.scenario,
    ).model_dump()


def service_fixture_body(fixture: ServiceFixture) -> dict[str, Any]:
    """A service fixture as the API shows it."""
    return ServiceFixtureBody(
        serviceId=fixture.id, nbnServiceId=fixture.nbn_service_id, scenario=fixture.scenario
    ).model_dump()


def ux_appointment_fixture_body(fixture: UxAppointmentFixture) -> dict[str, Any]:
    """A UX appointment fixture as the API shows it."""
    return UxAppointmentFixtureBody(
        id=fixture.appointment_id,
        businessId=fixture.business_id,
        orderClass=fixture.order_class,
        billingAccount=fixture.billing_account,
        scenario=fixture.scenario,
    ).model_dump()
