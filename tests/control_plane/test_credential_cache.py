"""Requests remember a verified credential briefly: every change through the API
forgets them at once; a change made elsewhere (another node, the database)
is seen within the memory's ttl."""

from __future__ import annotations

from sqlalchemy import update

from tenancy.authcache import CredentialCache
from tenancy.db.base import utcnow
from tenancy.models import ApiKey
from tests.control_plane.support import Api


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def with_clock(api: Api, ttl: float = 1.0) -> tuple[CredentialCache, Clock]:
    clock = Clock()
    cache = CredentialCache(ttl, clock=clock)
    api.app.state.credential_cache = cache
    return cache, clock


async def test_reads_reuse_the_verified_key(api: Api) -> None:
    owner = await api.person()
    key = {"Authorization": f"Bearer {await api.api_key(owner, ['agents.read'])}"}
    cache, _ = with_clock(api)
    for _ in range(5):
        assert (await api.client.get("/v1/agents", headers=key)).status_code == 200
    assert (cache.misses, cache.hits) == (1, 4)


async def test_revocation_and_role_changes_through_the_api_apply_at_once(api: Api) -> None:
    owner = await api.person()
    assert owner.org_id
    secret = await api.api_key(owner, ["agents.read"])
    key = {"Authorization": f"Bearer {secret}"}
    with_clock(api, ttl=3600.0)  # a long memory: only invalidation can end it
    assert (await api.client.get("/v1/agents", headers=key)).status_code == 200
    key_id = next(
        k["id"] for k in (await api.call("GET", "/v1/api-keys", owner)).json() if k["name"] == "k"
    )
    await api.call("DELETE", f"/v1/api-keys/{key_id}", owner)
    assert (await api.client.get("/v1/agents", headers=key)).status_code == 401

    writer = await api.member(owner.org_id, "member")
    body = {"name": "mine", "config": {}}
    assert (await api.call("POST", "/v1/agents", writer, json=body)).status_code == 201
    members = (await api.call("GET", "/v1/members", owner)).json()
    membership = next(m["id"] for m in members if m["user_id"] == writer.user_id)
    r = await api.call("PATCH", f"/v1/members/{membership}", owner, json={"role": "viewer"})
    assert r.status_code == 200, r.text
    assert (await api.call("POST", "/v1/agents", writer, json=body)).status_code == 403

    r = await api.call("POST", "/v1/auth/logout", writer)
    assert r.status_code == 200, r.text
    assert (await api.call("GET", "/v1/agents", writer)).status_code == 401


async def test_a_change_made_elsewhere_is_seen_within_the_ttl(api: Api) -> None:
    owner = await api.person()
    assert owner.org_id
    secret = await api.api_key(owner, ["agents.read"])
    key = {"Authorization": f"Bearer {secret}"}
    _, clock = with_clock(api, ttl=1.0)
    assert (await api.client.get("/v1/agents", headers=key)).status_code == 200
    # Another node (here: the database directly) revokes the key.
    async with api.services.db.tenant(owner.org_id) as session:
        await session.execute(update(ApiKey).values(revoked_at=utcnow()))
    assert (await api.client.get("/v1/agents", headers=key)).status_code == 200
    clock.now += 1.01
    assert (await api.client.get("/v1/agents", headers=key)).status_code == 401
