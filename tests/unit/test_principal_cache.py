"""The cache of verified bearer tokens: bounded in time (its lifetime and the token's) and size."""

from __future__ import annotations

from cancelgate.auth.identity import Principal
from cancelgate.auth.principal_cache import PrincipalCache

ALICE = Principal(1, 10, "cg_alice", "Alice", "alice@example.com")
BOB = Principal(2, 20, "cg_bob", "Bob", "bob@example.com")


def test_a_verified_token_is_remembered_for_the_cache_lifetime() -> None:
    cache = PrincipalCache(5)
    cache.put("t1", ALICE, expires_at=1_000, now=100)
    assert cache.get("t1", 104.9) == ALICE
    assert cache.get("t1", 105) is None
    assert cache.get("t1", 104) is None  # forgotten once lapsed


def test_never_past_the_tokens_expiry() -> None:
    cache = PrincipalCache(60)
    cache.put("t1", ALICE, expires_at=103, now=100)
    assert cache.get("t1", 102.9) == ALICE
    assert cache.get("t1", 103) is None


def test_zero_seconds_remembers_nothing() -> None:
    cache = PrincipalCache(0)
    cache.put("t1", ALICE, expires_at=1_000, now=100)
    assert cache.get("t1", 100) is None


def test_unknown_tokens_and_other_tokens_are_misses() -> None:
    cache = PrincipalCache(5)
    cache.put("t1", ALICE, expires_at=1_000, now=100)
    assert cache.get("t2", 100) is None
    cache.put("t2", BOB, expires_at=1_000, now=100)
    assert cache.get("t2", 101) == BOB and cache.get("t1", 101) == ALICE


def test_the_least_recently_used_token_is_evicted_first() -> None:
    cache = PrincipalCache(5, max_entries=2)
    cache.put("a", ALICE, expires_at=1_000, now=100)
    cache.put("b", BOB, expires_at=1_000, now=100)
    assert cache.get("a", 101) == ALICE  # "a" is now the most recent
    cache.put("c", BOB, expires_at=1_000, now=101)
    assert cache.get("b", 101) is None
    assert cache.get("a", 101) == ALICE and cache.get("c", 101) == BOB
