"""Rate limits per API key and per client IP, in-process or in Redis.

Both backends run the generic cell rate algorithm (GCRA): one stored number per
key, the "theoretical arrival time" of the next request. A limit of N requests
per window admits a burst of N, then one request every window/N. The Redis
backend runs it as one Lua script on the server clock, so every node shares
the same budget.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("cap.ratelimit")
# The in-process table is pruned of idle keys once it holds this many.
MAX_TRACKED_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class RateLimit:
    requests: int
    window_seconds: float

    @property
    def interval(self) -> float:
        return self.window_seconds / self.requests


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    # Seconds until a request would be admitted (0 when allowed).
    retry_after: float

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: RateLimit) -> Decision: ...

    async def aclose(self) -> None: ...


def _gcra(tat: float, now: float, limit: RateLimit) -> tuple[Decision, float]:
    """(decision, new stored arrival time)."""
    new_tat = max(tat, now) + limit.interval
    allow_at = new_tat - limit.window_seconds
    if now < allow_at:
        return Decision(False, allow_at - now), tat
    return Decision(True, 0.0), new_tat


class InProcessRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}

    async def hit(self, key: str, limit: RateLimit) -> Decision:
        now = self._clock()
        decision, self._tat[key] = _gcra(self._tat.get(key, now), now, limit)
        if len(self._tat) > MAX_TRACKED_KEYS:
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        return decision

    async def aclose(self) -> None:
        self._tat.clear()


_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - window
if now < allow_at then
  return allow_at - now
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(window))
return 0
"""


class RedisRateLimiter:
    """Fails open: if Redis is unreachable, requests pass and ``errors`` counts it."""

    def __init__(self, url: str, *, namespace: str = "cap:rl:") -> None:
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script: Any = self._redis.register_script(_GCRA_LUA)
        self._namespace = namespace
        self.errors = 0

    async def hit(self, key: str, limit: RateLimit) -> Decision:
        from redis.exceptions import RedisError

        try:
            wait_ms = await self._script(
                keys=[self._namespace + key],
                args=[limit.interval * 1000.0, limit.window_seconds * 1000.0],
            )
        except (RedisError, OSError) as exc:
            self.errors += 1
            log.warning("rate limiter unavailable, allowing request: %s", exc)
            return Decision(True, 0.0)
        wait = float(wait_ms) / 1000.0
        return Decision(wait <= 0, max(0.0, wait))

    async def aclose(self) -> None:
        await self._redis.aclose()


def build_rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else InProcessRateLimiter()
