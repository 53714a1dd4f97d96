"""API keys: shown once, stored hashed with a visible prefix, scoped, revocable."""

from __future__ import annotations

from sqlalchemy import select

from tenancy import bearer
from tenancy.models import ApiKey
from tests.control_plane.support import Api


async def test_key_lifecycle(api: Api) -> None:
    owner = await api.person()
    r = await api.call(
        "POST",
        "/v1/api-keys",
        owner,
        json={"name": "ci", "scopes": ["agents.read", "agents.write"]},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["secret"]
    assert secret.startswith(created["prefix"]) and created["prefix"].startswith("cap_")
    assert created["last_used_at"] is None

    # Never shown again, stored only as a digest.
    listed = await api.call("GET", "/v1/api-keys", owner)
    assert secret not in listed.text and created["prefix"] in listed.text
    assert owner.org_id
    async with api.services.db.tenant(owner.org_id) as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.id == created["id"]))
    assert row is not None and row.key_hash == bearer.digest(secret)
    assert secret not in (row.key_hash, row.prefix)

    as_key = {"Authorization": f"Bearer {secret}"}
    assert (
        await api.call("POST", "/v1/agents", headers=as_key, json={"name": "K"})
    ).status_code == 201
    # Outside its scopes: refused.
    assert (await api.call("GET", "/v1/members", headers=as_key)).status_code == 403
    assert (
        await api.call("POST", "/v1/teams", headers=as_key, json={"name": "x"})
    ).status_code == 403
    # The key ignores any organisation header: it acts only in its own.
    other = await api.person()
    r = await api.call("GET", "/v1/agents", headers={**as_key, "X-CAP-Org": other.org_id or ""})
    assert [a["name"] for a in r.json()] == ["K"]

    used = (await api.call("GET", f"/v1/api-keys/{created['id']}", owner)).json()
    assert used["last_used_at"] is not None
    revoked = await api.call("DELETE", f"/v1/api-keys/{created['id']}", owner)
    assert revoked.json()["revoked_at"] is not None
    r = await api.call("GET", "/v1/agents", headers=as_key)
    assert r.status_code == 401


async def test_keys_cannot_exceed_their_creator(api: Api) -> None:
    owner = await api.person()
    assert owner.org_id
    developer = await api.member(owner.org_id, "developer")
    r = await api.call(
        "POST", "/v1/api-keys", developer, json={"name": "x", "scopes": ["members.manage"]}
    )
    assert r.status_code == 403
    r = await api.call("POST", "/v1/api-keys", developer, json={"name": "x", "scopes": ["nope"]})
    assert r.status_code == 422
    r = await api.call("POST", "/v1/api-keys", owner, json={"name": "x", "scopes": []})
    assert r.status_code == 422
    r = await api.call(
        "POST",
        "/v1/api-keys",
        owner,
        json={"name": "x", "scopes": ["agents.read"], "expires_at": "2000-01-01T00:00:00Z"},
    )
    assert r.status_code == 422


async def test_expired_key_is_refused(api: Api) -> None:
    owner = await api.person()
    r = await api.call(
        "POST",
        "/v1/api-keys",
        owner,
        json={"name": "x", "scopes": ["agents.read"], "expires_at": "2999-01-01T00:00:00Z"},
    )
    secret, key_id = r.json()["secret"], r.json()["id"]
    from datetime import UTC, datetime, timedelta

    assert owner.org_id
    async with api.services.db.tenant(owner.org_id) as session:
        row = await session.get_one(ApiKey, key_id)
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    r = await api.call("GET", "/v1/agents", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
