"""Platform administration: organisations, suspension, flags, audit, impersonation."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from tenancy.db.scoping import ScopedSession
from tenancy.models import Organization
from tests.control_plane.fake_llm import FakeLLMFactory
from tests.control_plane.routes import endpoints
from tests.control_plane.support import Api
from tests.control_plane.world import build_world


async def test_suspension_stops_keys_and_sessions_until_reactivated(api: Api) -> None:
    admin = await api.person(admin=True, org=False, tag="admin")
    owner = await api.person()
    key = await api.api_key(owner, ["agents.read"])
    as_key = {"Authorization": f"Bearer {key}"}
    assert (await api.call("GET", "/v1/agents", headers=as_key)).status_code == 200

    listed = (await api.call("GET", "/v1/admin/orgs?limit=500", admin)).json()
    assert owner.org_id in {o["id"] for o in listed}
    r = await api.call(
        "POST", f"/v1/admin/orgs/{owner.org_id}/suspend", admin, json={"reason": "abuse"}
    )
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    for headers in (as_key, owner.headers()):
        r = await api.call("GET", "/v1/agents", headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "org_suspended"
    suspended = (await api.call("GET", "/v1/admin/orgs?status=suspended&limit=500", admin)).json()
    assert owner.org_id in {o["id"] for o in suspended}

    await api.call("POST", f"/v1/admin/orgs/{owner.org_id}/reactivate", admin)
    assert (await api.call("GET", "/v1/agents", headers=as_key)).status_code == 200


async def test_suspension_listeners_are_told(api: Api) -> None:
    told: list[str] = []

    async def listener(org_id: str) -> None:
        told.append(org_id)

    api.services.suspension_listeners.append(listener)
    admin = await api.person(admin=True, org=False)
    owner = await api.person()
    await api.call("POST", f"/v1/admin/orgs/{owner.org_id}/suspend", admin, json={})
    assert told == [owner.org_id]


class CommitRefused(Exception):
    pass


async def test_suspension_listeners_run_after_the_commit_and_not_if_it_fails(api: Api) -> None:
    admin = await api.person(admin=True, org=False)
    owner = await api.person()
    seen: list[str | None] = []

    async def listener(org_id: str) -> None:
        # What another connection reads when the listener runs.
        async with api.services.db.platform() as session:
            seen.append(await session.scalar(select(Organization.status).filter_by(id=org_id)))

    api.services.suspension_listeners.append(listener)
    fail = False

    def note_suspension(session: Session, _context: object) -> None:
        # The dirty list still shows what this flush wrote.
        if any(isinstance(o, Organization) and o.status == "suspended" for o in session.dirty):
            session.info["suspending"] = True

    def refuse_suspension(session: Session) -> None:
        if fail and session.info.get("suspending"):
            raise CommitRefused

    event.listen(ScopedSession, "after_flush", note_suspension)
    event.listen(ScopedSession, "before_commit", refuse_suspension)
    try:
        fail = True
        with pytest.raises(CommitRefused):
            await api.call("POST", f"/v1/admin/orgs/{owner.org_id}/suspend", admin, json={})
        assert seen == []  # the suspension was not stored, so nobody was told
        org = (await api.call("GET", f"/v1/admin/orgs/{owner.org_id}", admin)).json()
        assert org["status"] == "active"

        fail = False
        r = await api.call("POST", f"/v1/admin/orgs/{owner.org_id}/suspend", admin, json={})
        assert r.status_code == 200
        assert seen == ["suspended"]  # told once the suspension is visible to others
    finally:
        event.remove(ScopedSession, "before_commit", refuse_suspension)
        event.remove(ScopedSession, "after_flush", note_suspension)


async def test_a_failing_suspension_listener_leaves_the_suspension_and_others(api: Api) -> None:
    admin = await api.person(admin=True, org=False)
    owner = await api.person()
    told: list[str] = []

    async def broken(org_id: str) -> None:
        raise RuntimeError("listener fault")

    async def listener(org_id: str) -> None:
        told.append(org_id)

    api.services.suspension_listeners.extend([broken, listener])
    r = await api.call("POST", f"/v1/admin/orgs/{owner.org_id}/suspend", admin, json={})
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert told == [owner.org_id]


async def test_feature_flags(api: Api) -> None:
    admin = await api.person(admin=True, org=False)
    owner = await api.person()
    url = f"/v1/admin/orgs/{owner.org_id}/flags"
    assert (await api.call("PUT", f"{url}/voice.beta", admin, json={"enabled": True})).json() == {
        "voice.beta": True
    }
    await api.call("PUT", f"{url}/voice.beta", admin, json={"enabled": False})
    await api.call("PUT", f"{url}/rag", admin, json={"enabled": True})
    assert (await api.call("GET", url, admin)).json() == {"voice.beta": False, "rag": True}
    # The organisation sees its own flags; the flag name is validated.
    org = (await api.call("GET", "/v1/org", owner)).json()
    assert org["feature_flags"] == {"voice.beta": False, "rag": True}
    assert (
        await api.call("PUT", f"{url}/Bad Flag", admin, json={"enabled": True})
    ).status_code == 422
    assert (
        await api.call("PUT", "/v1/admin/orgs/nope/flags/x", admin, json={"enabled": True})
    ).status_code == 404


async def test_impersonation_is_audited_and_powerless(api: Api) -> None:
    admin = await api.person(admin=True, org=False, tag="admin")
    owner = await api.person()
    other_admin = await api.person(admin=True, org=False)
    r = await api.call(
        "POST",
        "/v1/admin/impersonate",
        admin,
        json={"user_id": owner.user_id, "reason": "ticket 42"},
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    as_owner = {"Authorization": f"Bearer {token}", "X-CAP-Org": owner.org_id or ""}
    me = (await api.call("GET", "/v1/auth/me", headers=as_owner)).json()
    assert me["id"] == owner.user_id and me["impersonated_by"] == admin.user_id
    created = await api.call("POST", "/v1/teams", headers=as_owner, json={"name": "By support"})
    assert created.status_code == 201
    # The impersonation session has no platform powers, and admins cannot be impersonated.
    assert (await api.call("GET", "/v1/admin/orgs", headers=as_owner)).status_code == 403
    r = await api.call(
        "POST", "/v1/admin/impersonate", admin, json={"user_id": other_admin.user_id, "reason": "x"}
    )
    assert r.status_code == 422

    audit = (await api.call("GET", f"/v1/admin/audit?org_id={owner.org_id}", admin)).json()
    team_entry = next(e for e in audit if e["action"] == "teams.create")
    assert team_entry["actor_user_id"] == owner.user_id
    assert team_entry["impersonator_id"] == admin.user_id
    platform = (await api.call("GET", "/v1/admin/audit?limit=500", admin)).json()
    start = next(e for e in platform if e["action"] == "admin.impersonate")
    assert start["actor_user_id"] == admin.user_id
    assert start["details"]["reason"] == "ticket 42" and start["ip"] == "10.0.0.1"


async def test_every_mutation_is_audited(api: Api) -> None:
    """Generated: each mutating route, called successfully, leaves one audit entry
    naming the route, the actor and the address."""
    api.services.llm_factory = FakeLLMFactory()
    world = await build_world(api)
    routes = [
        ep for ep in endpoints(api.app) if ep.access.kind == "permission" and ep.method != "GET"
    ]
    routes.sort(key=lambda ep: (ep.method == "DELETE", -ep.path.count("/")))
    audited = 0
    for ep in routes:
        body = ep.example()
        if body is not None and "model" in body:
            body["model"] = world.ids["agent_id"]
        r = await api.call(ep.method, ep.url(world.ids), world.owner, json=body)
        if r.status_code >= 300:
            continue
        entries = (await api.call("GET", "/v1/audit?limit=1", world.owner)).json()
        assert entries, str(ep)
        entry = entries[0]
        expected = (
            "conversations.message"
            if "messages" in ep.path or "completions" in ep.path
            else ep.name
        )
        if ep.name == "openai.chat_completions":
            continue  # its turn is audited as a conversation message below its own start
        assert entry["action"] == expected, (str(ep), entry)
        assert entry["actor_user_id"] == world.owner.user_id and entry["ip"] == "10.0.0.1"
        audited += 1
    assert audited >= 20
