"""Schemathesis against the live server's own OpenAPI: generated valid and invalid requests to
every operation, checked for 5xx, undocumented statuses, content types and bodies, accepted
invalid data and ignored authentication. Bounded: a fixed number of examples per operation."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import pytest
import pytest_asyncio
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from requests.structures import CaseInsensitiveDict
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from cancelgate.auth.keys import InstanceKeys
from tests.api.conftest import Sessions, new_caller, new_channel

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
EXAMPLES_PER_OPERATION = 30


class Credentials:
    """A tenant's bearer token for Connect, a channel client's headers for the UX API."""

    bearer: ClassVar[dict[str, str]] = {}
    channel: ClassVar[dict[str, str]] = {}

    def get(self, case: Case[Any], ctx: Any) -> dict[str, str]:
        """The headers this operation authenticates with."""
        if case.path.startswith("/api/connect/"):
            return self.bearer
        if case.path.startswith("/ecom-ux/"):
            return self.channel
        return {}

    def set(self, case: Case[Any], data: dict[str, str], ctx: Any) -> None:
        """Put them on the request."""
        headers = CaseInsensitiveDict(case.headers)
        headers.update(data)
        case.headers = headers


@pytest_asyncio.fixture(loop_scope="session")
async def api_schema(
    api_server: str, http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys
) -> schemathesis.BaseSchema:
    """The server's OpenAPI document with a fresh tenant's and channel's credentials."""
    caller = await new_caller(http, db, keys)
    channel = await new_channel(http, db, keys, "fuzz", ["PR", "JM"])
    Credentials.bearer = {"Authorization": f"Bearer {caller.token}"}
    Credentials.channel = {"client_id": channel.client_id, "client_secret": channel.client_secret}
    schema = schemathesis.openapi.from_url(f"{api_server}/openapi.json")
    schema.config.update(base_url=api_server)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=EXAMPLES_PER_OPERATION,
        deterministic=True,
    )
    # 501 is the UX seed's answer for a business unit this installation does not serve.
    schema.config.checks.not_a_server_error.expected_statuses = ["2xx", "3xx", "4xx", "501"]
    schema.auth()(Credentials)
    return schema


def test_every_operation_conforms(api_schema: schemathesis.BaseSchema) -> None:
    """Every operation, valid and invalid data: zero failures of any check."""
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        if isinstance(result, Err):
            pytest.fail(f"invalid operation in the schema: {result.err()}")
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, auth_storage=api_schema.auth)

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            @given(strategy)
            def run(case: Case[Any]) -> None:
                case.call_and_validate(checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                # No invalid request exists for an operation without inputs.
                assert mode == GenerationMode.NEGATIVE
            except Exception as exc:  # each failure is reported, then the test fails
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
