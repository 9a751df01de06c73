"""Choosing the nbn implementation from settings."""

from __future__ import annotations

from cancelgate.db.database import Database
from cancelgate.settings import Settings
from cancelgate.upstream.measured import MeasuredNbn
from cancelgate.upstream.nbn.http import NbnHttpAdapter
from cancelgate.upstream.nbn.port import NbnPort
from cancelgate.upstream.nbn.simulator import NbnSimulator


def make_simulator(settings: Settings, database: Database) -> NbnSimulator:
    """The built-in nbn."""
    return NbnSimulator(
        database,
        ponr_hours=settings.cancellation_ponr_hours,
        slow_seconds=settings.sim_slow_seconds,
    )


def make_nbn_port(settings: Settings, database: Database) -> NbnPort:
    """The simulator unless CANCELGATE_NBN_MODE=http; each call timed unless
    CANCELGATE_METRICS=false."""
    port: NbnPort
    if settings.nbn_mode == "http":
        port = NbnHttpAdapter(
            settings.nbn_base_url,
            connect_timeout=settings.nbn_connect_timeout_seconds,
            read_timeout=settings.nbn_read_timeout_seconds,
        )
    else:
        port = make_simulator(settings, database)
    return MeasuredNbn(port) if settings.metrics else port
