"""Verified bearer tokens, remembered briefly: the hot path skips the signature check and the
client lookup. A token is never used past its `exp`; a disabled client loses access within the
cache's lifetime (CANCELGATE_PRINCIPAL_CACHE_SECONDS)."""

from __future__ import annotations

from collections import OrderedDict

from cancelgate.auth.identity import Principal

MAX_ENTRIES = 10_000


class PrincipalCache:
    """token → (principal, usable until), least recently used evicted first."""

    def __init__(self, seconds: float, max_entries: int = MAX_ENTRIES) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def get(self, token: str, now: float) -> Principal | None:
        """The principal of a token verified within the last `seconds`, if still usable."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        principal, until = entry
        if now >= until:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return principal

    def put(self, token: str, principal: Principal, expires_at: float, now: float) -> None:
        """Remember a verified token until its expiry or the cache lifetime, whichever is first."""
        if self.seconds <= 0:
            return
        self._entries[token] = (principal, min(now + self.seconds, expires_at))
        self._entries.move_to_end(token)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
