"""The console at /console: every page's router, behind the gate that hides the console (404)
while it is off or no operator exists. Each page module owns its routes and statements."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from cancelgate.console import (
    audit,
    auth_pages,
    overview,
    requests,
    sandbox,
    services,
    tenants,
    ux,
    webhooks,
)
from cancelgate.console.web import console_on

router = APIRouter(include_in_schema=False, dependencies=[Depends(console_on)])
for page in (auth_pages, overview, requests, services, ux, tenants, webhooks, sandbox, audit):
    router.include_router(page.router)
