"""The database's "one open cancellation per service" index covers exactly the open statuses.

The rule that a second request is refused while one is open lives twice: in OPEN_STATUSES
(the service's check) and in the partial unique index's WHERE (which settles races). If they
drift, either the database lets through, in a race, a second request the service would refuse,
or it refuses one the service allows (an IntegrityError where a 201 was due).
"""

from __future__ import annotations

import re

from sqlalchemy import Table

from cancelgate.domain.services import OPEN_STATUSES, ServiceCancellationStatus
from cancelgate.services.models import ServiceCancellation
from tests.support import query

INDEX = "uq_service_cancellations_open"
OPEN = {status.value for status in OPEN_STATUSES}
# A quoted SQL string literal ('' is a quote inside it).
LITERAL = re.compile(r"'((?:[^']|'')*)'")


def admitted(database_url: str, predicate: str) -> set[str]:
    """The statuses for which PostgreSQL holds predicate true, tried on every cancellation
    status and on every string the predicate names (so an extra or a negated one shows)."""
    named = {literal.replace("''", "'") for literal in LITERAL.findall(predicate)}
    candidates = sorted({status.value for status in ServiceCancellationStatus} | named)
    rows = query(
        database_url,
        "SELECT status FROM unnest(%s::varchar[]) AS candidate(status) WHERE "
        + predicate.replace("%", "%%"),
        candidates,
    )
    return {status for (status,) in rows}


def test_the_migrated_index_is_unique_per_service_over_exactly_the_open_statuses(
    database_url: str,
) -> None:
    [(unique, columns, predicate)] = query(
        database_url,
        "SELECT i.indisunique, array(SELECT a.attname::text FROM unnest(i.indkey) AS k(attnum)"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum),"
        " pg_get_expr(i.indpred, i.indrelid)"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname = %s AND i.indrelid = 'service_cancellations'::regclass",
        INDEX,
    )
    assert (unique, columns) == (True, ["service_id"])
    assert predicate is not None, "the index is not partial"
    assert admitted(database_url, predicate) == OPEN, predicate


def test_the_models_index_has_the_same_predicate(database_url: str) -> None:
    # `alembic check` (test_migrations) does not compare index predicates: this does.
    table = ServiceCancellation.__table__
    assert isinstance(table, Table)
    [index] = [i for i in table.indexes if i.name == INDEX]
    assert index.unique
    predicate = str(index.dialect_options["postgresql"]["where"])
    assert admitted(database_url, predicate) == OPEN, predicate
