"""Faults the HTTP simulator can be told to play (latency, errors), per upstream operation.

A timeout is latency longer than the caller's read timeout; a refused connection is a stopped
simulator.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

FaultKind = Literal["latency", "error"]

# The calls a fault can target: one per simulated upstream operation.
NBN_CHECK = "nbn-check"
NBN_CANCEL = "nbn-cancel"
NBN_SERVICE_CANCEL = "nbn-service-cancel"
CSG_CANCEL = "csg-cancel"
TARGETS = (NBN_CHECK, NBN_CANCEL, NBN_SERVICE_CANCEL, CSG_CANCEL)

# Latency is bounded: long past any adapter's timeout, short enough to end with a test.
MAX_FAULT_SECONDS = 120.0


@dataclass(frozen=True)
class Fault:
    """Delay every call by `seconds` (latency), or answer `status` instead (error)."""

    kind: FaultKind
    seconds: float = 0.0
    status: int = 503


def target_of(method: str, path: str) -> str | None:
    """Which simulated operation an HTTP call is, or None for anything else."""
    if path.startswith("/nbn/v1/appointments/"):
        if method == "GET" and path.endswith("/cancellability"):
            return NBN_CHECK
        if method == "POST" and path.endswith("/cancellations"):
            return NBN_CANCEL
    if method == "POST" and path.startswith("/nbn/v1/services/"):
        return NBN_SERVICE_CANCEL
    if method == "POST" and path.startswith("/csg/v1/"):
        return CSG_CANCEL
    return None


class FaultBoard:
    """The faults in force in one simulator process, and how many calls each target received."""

    def __init__(self) -> None:
        self.faults: dict[str, Fault] = {}
        self.calls: Counter[str] = Counter()

    def set(self, target: str, fault: Fault | None) -> None:
        """Put a fault on a target (None clears it)."""
        if fault is None:
            self.faults.pop(target, None)
        else:
            self.faults[target] = fault


class FaultMiddleware:
    """Counts simulated calls and plays the fault in force on their target before (or instead
    of) the simulator's answer."""

    def __init__(self, app: ASGIApp, board: FaultBoard) -> None:
        self.app = app
        self.board = board

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = target_of(scope.get("method", ""), scope.get("path", ""))
        if scope["type"] != "http" or target is None:
            await self.app(scope, receive, send)
            return
        self.board.calls[target] += 1
        fault = self.board.faults.get(target)
        if fault is not None and fault.kind == "error":
            body = {"message": f"simulated fault: HTTP {fault.status}"}
            await JSONResponse(body, status_code=fault.status)(scope, receive, send)
            return
        if fault is not None:
            # The simulator still acts after the delay, as a slow upstream would.
            await asyncio.sleep(min(fault.seconds, MAX_FAULT_SECONDS))
        await self.app(scope, receive, send)
