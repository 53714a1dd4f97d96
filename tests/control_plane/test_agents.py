"""Agents: CRUD, drafts and immutable published versions, credentials, resolution."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from control_plane.agents.resolve import SessionRejected, resolve_agent_for_session
from control_plane.credentials.models import ProviderCredential
from tests.control_plane.support import Api

AGENT = {
    "name": "Front desk",
    "type": "voice",
    "config": {
        "system_prompt": "You are the front desk.",
        "greeting": "Welcome!",
        "llm": [
            {"provider": "openai", "options": {"model": "gpt-4o-mini"}},
            {"provider": "llama"},
        ],
        "voice": {"voice": "heart", "language": "en-GB"},
        "knowledge_base_ids": ["kb-1"],
    },
}


async def test_draft_publish_versions_and_activation(api: Api) -> None:
    owner = await api.person()
    r = await api.call("POST", "/v1/agents", owner, json=AGENT)
    assert r.status_code == 201, r.text
    agent = r.json()
    assert agent["slug"] == "front-desk" and agent["published_version"] is None
    assert agent["draft"]["llm"][0]["options"] == {"model": "gpt-4o-mini"}
    # Defaults fill what was not given.
    assert agent["draft"]["stt"] and agent["draft"]["limits"]["max_turns"] == 200

    v1 = await api.call("POST", f"/v1/agents/{agent['id']}/publish", owner)
    assert v1.status_code == 201 and v1.json()["version"] == 1
    r = await api.call(
        "PATCH", f"/v1/agents/{agent['id']}", owner, json={"config": {"greeting": "Hi again"}}
    )
    assert r.status_code == 200
    assert r.json()["draft"]["greeting"] == "Hi again"
    assert r.json()["draft"]["system_prompt"] == "You are the front desk."  # kept
    # The published version did not move.
    r = await api.call("GET", f"/v1/agents/{agent['id']}/versions/1", owner)
    assert r.json()["config"]["greeting"] == "Welcome!"

    v2 = await api.call("POST", "/v1/agents/front-desk/publish", owner)
    assert v2.json()["version"] == 2
    versions = (await api.call("GET", f"/v1/agents/{agent['id']}/versions", owner)).json()
    assert [v["version"] for v in versions] == [2, 1]
    r = await api.call("POST", f"/v1/agents/{agent['id']}/versions/1/activate", owner)
    assert r.json()["published_version"] == 1

    # Slugs are unique per organisation, not across organisations.
    assert (await api.call("POST", "/v1/agents", owner, json=AGENT)).status_code == 409
    other = await api.person()
    assert (await api.call("POST", "/v1/agents", other, json=AGENT)).status_code == 201


async def test_invalid_configs_are_refused(api: Api) -> None:
    owner = await api.person()
    bad = [
        {"name": "x", "type": "fax"},
        {"name": "x", "config": {"llm": []}},
        {"name": "x", "config": {"llm": [{"provider": "Bad Name!"}]}},
        {"name": "x", "config": {"voice": {"language": "english please"}}},
        {"name": "x", "config": {"limits": {"max_turns": 0}}},
        {"name": "x", "config": {"avatar_url": "javascript:alert(1)"}},
        {"name": "x", "config": {"unknown_field": 1}},
    ]
    for body in bad:
        r = await api.call("POST", "/v1/agents", owner, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["message"]


async def test_credentials_are_write_only_and_encrypted(api: Api) -> None:
    owner = await api.person()
    secret = "sk-live-abcdefghijklmnopqrstuvwxyz"
    r = await api.call(
        "POST", "/v1/credentials", owner, json={"provider": "openai", "secret": secret}
    )
    assert r.status_code == 201, r.text
    assert secret not in r.text and r.json()["hint"] == "wxyz"
    listed = await api.call("GET", "/v1/credentials", owner)
    assert secret not in listed.text
    assert owner.org_id
    async with api.services.db.tenant(owner.org_id) as session:
        row = await session.scalar(select(ProviderCredential))
    assert row is not None and secret not in row.ciphertext
    # Audit entries do not carry it either.
    audit = await api.call("GET", "/v1/audit", owner)
    assert secret not in audit.text

    # The resolved agent carries it to the adapter, as its api_key.
    await api.call("POST", "/v1/agents", owner, json=AGENT)
    await api.call("POST", "/v1/agents/front-desk/publish", owner)
    key = await api.api_key(owner, ["agents.use"])
    resolved = await resolve_agent_for_session(key, "front-desk", services=api.services)
    assert resolved.llm[0].options["api_key"] == secret
    assert "api_key" not in resolved.llm[1].options
    assert secret not in repr(resolved)


async def test_resolve_agent_for_session(api: Api) -> None:
    owner = await api.person()
    created = (await api.call("POST", "/v1/agents", owner, json=AGENT)).json()
    key = await api.api_key(owner, ["agents.use"])
    reader = await api.api_key(owner, ["agents.read"])

    with pytest.raises(SessionRejected) as err:
        await resolve_agent_for_session(key, "front-desk", services=api.services)
    assert err.value.code == "not_published"
    await api.call("POST", f"/v1/agents/{created['id']}/publish", owner)

    resolved = await resolve_agent_for_session(key, created["id"], services=api.services)
    assert (resolved.org_id, resolved.version, resolved.type) == (owner.org_id, 1, "voice")
    assert resolved.greeting == "Welcome!" and resolved.voice.language == "en-GB"
    assert resolved.knowledge_base_ids == ("kb-1",)
    spec = resolved.to_agent_spec()
    assert [p.name for p in spec.llm] == ["openai", "llama"]
    assert spec.language == "en-GB" and spec.id == created["id"]
    # Login session tokens work too (a person with agents.use).
    resolved = await resolve_agent_for_session(owner.token, "front-desk", services=api.services)
    assert resolved.user_id == owner.user_id

    cases = [
        ("cap_not-a-key", "front-desk", "unauthenticated"),
        (reader, "front-desk", "forbidden"),
        (key, "no-such-agent", "agent_not_found"),
    ]
    for credential, ref, code in cases:
        with pytest.raises(SessionRejected) as err:
            await resolve_agent_for_session(credential, ref, services=api.services)
        assert err.value.code == code

    # Another organisation's key cannot reach this agent.
    stranger = await api.person()
    stranger_key = await api.api_key(stranger, ["agents.use"])
    with pytest.raises(SessionRejected) as err:
        await resolve_agent_for_session(stranger_key, created["id"], services=api.services)
    assert err.value.code == "agent_not_found"

    # Revoked key, then suspended organisation.
    keys = (await api.call("GET", "/v1/api-keys", owner)).json()
    use_key = next(k for k in keys if k["scopes"] == ["agents.use"])
    await api.call("DELETE", f"/v1/api-keys/{use_key['id']}", owner)
    with pytest.raises(SessionRejected) as err:
        await resolve_agent_for_session(key, "front-desk", services=api.services)
    assert err.value.code == "unauthenticated"
    admin = await api.person(admin=True, org=False)
    await api.call("POST", f"/v1/admin/orgs/{owner.org_id}/suspend", admin, json={})
    with pytest.raises(SessionRejected) as err:
        await resolve_agent_for_session(owner.token, "front-desk", services=api.services)
    assert err.value.code == "org_suspended"
