"""Keyset pagination of the console's lists: newest first, `PAGE_SIZE` rows a page, the next
page asked for as `?before=<the last id shown>` (an index range scan at any depth)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import bindparam, select

from cancelgate.auth.models import Tenant
from cancelgate.db.database import Database, Query, compiled

PAGE_SIZE = 50
# The first page starts below every id (integer ids; bigint ids go up to NO_BIG_CURSOR).
NO_CURSOR = 2**31 - 1
NO_BIG_CURSOR = 2**63 - 1


class HasId(Protocol):
    @property
    def id(self) -> int: ...


R = TypeVar("R", bound=HasId)


def page_of(rows: Sequence[Any], make: Callable[..., R]) -> tuple[list[R], int | None]:
    """The rows of a page read with `LIMIT PAGE_SIZE + 1`, and the next page's cursor (or None
    when this page is the last)."""
    found = [make(*row) for row in rows[:PAGE_SIZE]]
    return found, (found[-1].id if len(rows) > PAGE_SIZE else None)


def tenant_named() -> Any:
    """The id of the tenant named by the `tenant` parameter, as a scalar subquery: a list
    filtered by it reads its table's (tenant_id, id) index in page order (filtering a join on
    the name would walk every row to find a small tenant's)."""
    return select(Tenant.id).where(Tenant.name == bindparam("tenant")).scalar_subquery()


@dataclass(frozen=True)
class RequestFilters:
    """A request list's filters (None: not filtered), as its page read them from the query."""

    before: int | None
    tenant: str | None
    status: str | None
    # The [start, end) instants of the business day the requests were made on.
    requested: tuple[datetime, datetime] | None
    request_id: int | None
    # The filters as typed, to show them again and to carry them to the next page.
    shown: dict[str, str]

    def shape(self) -> tuple[bool, bool, bool, bool]:
        """Which filters are on: each combination is a statement (and a plan) of its own."""
        return (
            self.tenant is not None,
            self.status is not None,
            self.requested is not None,
            self.request_id is not None,
        )

    def params(self) -> dict[str, Any]:
        """The statement's parameters."""
        return {
            "before": NO_CURSOR if self.before is None else self.before,
            "tenant": self.tenant,
            "status": self.status,
            "day_start": self.requested[0] if self.requested else None,
            "day_end": self.requested[1] if self.requested else None,
            "request_id": self.request_id,
        }


def request_page_statement(model: Any, display: Any, shape: tuple[bool, bool, bool, bool]) -> Query:
    """A page of a request table (`model`: id, tenant_id, status, requested_on) for one
    combination of filters: the page's ids chosen from the table alone (so that the planner
    reads the filter's index in page order, not the primary key hoping to meet the filter's
    rows), then joined by `display` (a select from `model`) for the columns shown."""
    tenant, status, day, request_id = shape
    ids = select(model.id).where(model.id < bindparam("before"))
    if tenant:
        ids = ids.where(model.tenant_id == tenant_named())
    if status:
        ids = ids.where(model.status == bindparam("status"))
    if day:
        # One business day: a bounded range of `requested_on`, never the whole table.
        ids = ids.where(
            model.requested_on >= bindparam("day_start"), model.requested_on < bindparam("day_end")
        )
    if request_id:
        ids = ids.where(model.id == bindparam("request_id"))
    page = ids.order_by(model.id.desc()).limit(PAGE_SIZE + 1).subquery("page")
    return compiled(display.join(page, page.c.id == model.id).order_by(model.id.desc()))


async def request_page(
    database: Database, statement: Query, filters: RequestFilters, make: Callable[..., R]
) -> tuple[list[R], int | None]:
    """A page of requests, newest first, and the cursor of the next (or None)."""
    return page_of(await database.all(statement, filters.params()), make)
