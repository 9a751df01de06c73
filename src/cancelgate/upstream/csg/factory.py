"""Choosing the CSG implementation from settings."""

from __future__ import annotations

from cancelgate.db.database import Database
from cancelgate.settings import Settings
from cancelgate.upstream.csg.http import CsgHttpAdapter
from cancelgate.upstream.csg.port import CsgPort
from cancelgate.upstream.csg.simulator import CsgSimulator
from cancelgate.upstream.measured import MeasuredCsg


def make_csg_simulator(settings: Settings, database: Database) -> CsgSimulator:
    """The built-in CSG."""
    return CsgSimulator(database, slow_seconds=settings.sim_csg_slow_seconds)


def make_csg_port(settings: Settings, database: Database) -> CsgPort:
    """The simulator unless CANCELGATE_CSG_MODE=http; each call timed unless
    CANCELGATE_METRICS=false."""
    port: CsgPort
    if settings.csg_mode == "http":
        port = CsgHttpAdapter(
            settings.csg_base_url,
            connect_timeout=settings.csg_connect_timeout_seconds,
            read_timeout=settings.csg_timeout_seconds,
        )
    else:
        port = make_csg_simulator(settings, database)
    return MeasuredCsg(port) if settings.metrics else port
