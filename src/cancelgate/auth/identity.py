"""Who a caller of the Connect API is, once authenticated."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """An authenticated API user: a client of one tenant. Every query is scoped by it."""

    tenant_id: int
    client_pk: int
    client_id: str
    display_name: str
    email: str
