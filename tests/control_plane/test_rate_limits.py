"""Rate limits per API key, per address and on the identity endpoints: 429 with
Retry-After, the same behaviour in-process and in Redis."""

from __future__ import annotations

import secrets

import pytest

from tenancy.ratelimit import InProcessRateLimiter, RateLimit, RedisRateLimiter
from tests.control_plane.support import Api


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def limiter_kind(request: pytest.FixtureRequest, api: Api) -> str:
    if request.param == "redis":
        limiter = RedisRateLimiter(
            "redis://127.0.0.1:6379/0", namespace=f"cap:test:{secrets.token_hex(4)}:"
        )
        if not await limiter._redis.ping():
            pytest.skip("Redis not reachable")
        await api.services.limiter.aclose()
        api.services.limiter = limiter
    else:
        api.services.limiter = InProcessRateLimiter()
    return str(request.param)


async def test_per_key_limit(api: Api, limiter_kind: str) -> None:
    owner = await api.person()
    key = await api.api_key(owner, ["agents.read"])
    api.services.limits = api.services.limits.__class__(
        per_key=RateLimit(3, 60),
        per_ip=api.services.limits.per_ip,
        auth_per_ip=api.services.limits.auth_per_ip,
        max_request_bytes=api.services.limits.max_request_bytes,
    )
    h = {"Authorization": f"Bearer {key}"}
    codes = [(await api.call("GET", "/v1/agents", headers=h)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = await api.call("GET", "/v1/agents", headers=h)
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 20
    assert r.json()["error"]["code"] == "rate_limited"
    # Another credential has its own budget.
    assert (await api.call("GET", "/v1/agents", owner)).status_code == 200


async def test_per_ip_and_auth_limits(api: Api, limiter_kind: str) -> None:
    limits = api.services.limits
    api.services.limits = limits.__class__(
        per_key=limits.per_key,
        per_ip=RateLimit(5, 60),
        auth_per_ip=RateLimit(2, 60),
        max_request_bytes=limits.max_request_bytes,
    )
    body = {"email": "nobody@example.com", "password": "wrong password!"}
    codes = [(await api.call("POST", "/v1/auth/login", json=body)).status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    codes = [(await api.call("GET", "/v1/auth/me")).status_code for _ in range(3)]
    assert codes[-1] == 429  # the address budget (5) is spent
    r = await api.call("GET", "/v1/auth/me")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # The health probe is never limited.
    assert (await api.call("GET", "/healthz")).status_code == 200


async def test_in_process_limiter_refills() -> None:
    now = [0.0]
    limiter = InProcessRateLimiter(clock=lambda: now[0])
    limit = RateLimit(2, 10.0)
    assert [(await limiter.hit("k", limit)).allowed for _ in range(3)] == [True, True, False]
    denied = await limiter.hit("k", limit)
    assert denied.retry_after == pytest.approx(5.0)
    now[0] = 5.0
    assert (await limiter.hit("k", limit)).allowed
    assert not (await limiter.hit("k", limit)).allowed


async def test_redis_limiter_fails_open_when_redis_is_down() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0")
    try:
        decision = await limiter.hit("k", RateLimit(1, 60))
        assert decision.allowed and limiter.errors == 1
    finally:
        await limiter.aclose()
