"""Conversions between the URL forms that SQLAlchemy and psycopg accept."""

from __future__ import annotations

from sqlalchemy.engine import make_url


def sqlalchemy_url(url: str) -> str:
    """The URL with the psycopg 3 driver named, as SQLAlchemy needs it."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The URL without a driver suffix, as psycopg and libpq accept it."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)
