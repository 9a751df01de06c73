"""Keyset pagination of the console's lists: newest first, `PAGE_SIZE` rows a page, the next
page asked for as `?before=<the last id shown>` (an index range scan at any depth)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import bindparam, select

from cancelgate.auth.models import Tenant

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
