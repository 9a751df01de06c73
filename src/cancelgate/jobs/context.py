"""The runtime that job handlers of this process use (set when a worker starts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cancelgate.runtime import Runtime

_current: Runtime | None = None


def set_current(runtime: Runtime | None) -> None:
    """Make the runtime reachable from job handlers."""
    global _current
    _current = runtime


def current() -> Runtime:
    """The runtime of this process."""
    if _current is None:
        raise RuntimeError("no runtime is open in this process")
    return _current
