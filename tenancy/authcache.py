"""A short memory of verified credentials: a burst of requests with one API key
or login costs one database lookup, not one per request.

An entry lives ``ttl`` seconds (never past the credential's own expiry), and
every change made through the API empties the memory (``invalidate``), so a
revocation, suspension or role change takes effect at once on the node that
made it, and within ``ttl`` on the others. A lookup that began before an
invalidation is not stored (the generation check), so a slow lookup cannot
put back what a change removed. Entries are keyed by the token's digest, never
the token itself. ``ttl`` 0 turns the memory off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from tenancy import bearer
from tenancy.auth import Credential
from tenancy.db.base import utcnow
from tenancy.principal import Principal

MAX_ENTRIES = 10_000

_Key = tuple[str, str | None, bool]


class CredentialCache:
    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[_Key, tuple[float, Principal]] = {}
        self.generation = 0
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(credential: Credential) -> _Key:
        return (bearer.digest(credential.token), credential.org_ref, credential.need_org)

    def get(self, credential: Credential) -> Principal | None:
        if self.ttl <= 0:
            return None
        key = self._key(credential)
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None
        self.hits += 1
        return entry[1]

    def put(self, credential: Credential, principal: Principal, generation: int) -> None:
        """Stores ``principal`` unless the memory was invalidated since ``generation``."""
        if self.ttl <= 0 or generation != self.generation:
            return
        now = self._clock()
        until = now + self.ttl
        if principal.valid_until is not None:
            until = min(until, now + _seconds_until(principal.valid_until))
        if until <= now:
            return
        if len(self._entries) >= self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[self._key(credential)] = (until, principal)

    def invalidate(self) -> None:
        self.generation += 1
        self._entries.clear()


def _seconds_until(moment: datetime) -> float:
    return (moment - utcnow()).total_seconds()
