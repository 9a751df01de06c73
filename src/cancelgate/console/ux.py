"""The console's ux pages (being built)."""

from __future__ import annotations

from cancelgate.console.web import console_router

router = console_router()
