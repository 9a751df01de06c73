"""Keyset pagination of the console's lists: newest first, `PAGE_SIZE` rows a page, the next
page asked for as `?before=<the last id shown>` (an index range scan at any depth)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

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
