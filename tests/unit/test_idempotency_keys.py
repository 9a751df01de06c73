"""The pure rules of Idempotency-Key handling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cancelgate.idempotency.keys import (
    COMPLETED,
    PROCESSING,
    Decision,
    Recorded,
    decide,
    fingerprint,
    replayed_headers,
    valid_key,
    worth_keeping,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
EARLIER = NOW - timedelta(seconds=1)


@pytest.mark.parametrize("key", ["a", "8417a2ba-19ae-4523-b63b-d99fcab9b5d5", "x" * 255, "!~"])
def test_well_formed_keys(key: str) -> None:
    assert valid_key([key]) == key


@pytest.mark.parametrize(
    "values", [[], [""], ["x" * 256], ["with space"], ["tab\t"], ["é"], ["a", "a"], ["a", "b"]]
)
def test_malformed_or_repeated_keys(values: list[str]) -> None:
    assert valid_key(values) is None


def test_fingerprint_tells_requests_apart() -> None:
    base = fingerprint("POST", "/p", "8", b'{"a":1}')
    assert base == fingerprint("POST", "/p", "8", b'{"a":1}')
    others = {
        fingerprint("POST", "/q", "8", b'{"a":1}'),
        fingerprint("POST", "/p", "7", b'{"a":1}'),
        fingerprint("POST", "/p", "8", b'{"a":2}'),
        fingerprint("PUT", "/p", "8", b'{"a":1}'),
        # Parts are length-prefixed: moving bytes between them is another request.
        fingerprint("POST", "/p8", "", b'{"a":1}'),
    }
    assert base not in others and len(others) == 5


def recorded(
    state: str, *, fp: str = "f", locked: datetime = LATER, expires: datetime = LATER
) -> Recorded:
    return Recorded(fingerprint=fp, state=state, locked_until=locked, expires_at=expires)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (recorded(COMPLETED), Decision.REPLAY),
        (recorded(PROCESSING), Decision.IN_FLIGHT),
        (recorded(PROCESSING, locked=EARLIER), Decision.TAKE_OVER),
        (recorded(COMPLETED, fp="g"), Decision.REUSED),
        (recorded(PROCESSING, fp="g"), Decision.REUSED),
        (recorded(COMPLETED, expires=EARLIER), Decision.TAKE_OVER),
        (recorded(COMPLETED, fp="g", expires=NOW), Decision.TAKE_OVER),
    ],
)
def test_decisions(record: Recorded, expected: Decision) -> None:
    assert decide(record, "f", NOW) == expected


@pytest.mark.parametrize(
    ("status", "kept"),
    [(201, True), (204, True), (404, True), (422, True), (429, False), (500, False)],
)
def test_only_final_answers_are_kept(status: int, kept: bool) -> None:
    assert worth_keeping(status) is kept


def test_replayed_headers_keep_what_describes_the_answer() -> None:
    headers = [
        ("content-type", "application/json"),
        ("Location", "/x/1"),
        ("retry-after", "2"),
        ("date", "today"),
        ("x-frame-options", "DENY"),
        ("content-length", "0"),
    ]
    assert replayed_headers(headers) == [
        ("content-type", "application/json"),
        ("Location", "/x/1"),
        ("retry-after", "2"),
    ]
