"""Errors the domain raises; each API family maps them to its own wire format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SubError:
    """One reason a command was refused, naming the object and field at fault."""

    code: str
    message: str
    object: str
    field: str
    rejected_value: Any = None


@dataclass
class RuleViolation(Exception):
    """A business rule refused the command (Connect: 422 `validation`)."""

    sub_errors: list[SubError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(e.message for e in self.sub_errors)


@dataclass
class NotFound(Exception):
    """The object does not exist or belongs to someone else: the caller cannot tell which."""

    resource_id: Any

    def __str__(self) -> str:
        return f"Resource with id {self.resource_id} not found"


class UpstreamUnavailable(Exception):
    """An upstream system could not be reached or failed (Connect: 502)."""
