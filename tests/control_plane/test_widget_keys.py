"""Publishable widget keys: control-plane API keys of the ``pk_`` kind, bound to
one agent and to allowed origins. They open WebRTC calls (and widget config)
with that agent's published version, are refused once revoked or once the
organisation is suspended, and a suspension ends the calls already running."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cap_sdk import CallRejected, ErrorEvent, SessionEnded, connect_webrtc
from prometheus_client import REGISTRY

from control_plane.voice.runtime import Unauthorized, UnknownAgent, VoiceRuntime
from control_plane.voice.setup import platform_resolver
from control_plane.webrtc.gateway import WebRtcGateway
from control_plane.webrtc.mount import webrtc_lifespan
from tests.control_plane.support import Api, Person
from tests.webrtc.stack import BASE_URL, agent, registry, until
from tests.webrtc.test_offer import browser_like_offer

FAKE = [{"provider": "fake"}]
SHOP = "https://shop.example"


def shop_agent(name: str, greeting: str) -> dict[str, Any]:
    config = {"llm": FAKE, "stt": FAKE, "tts": FAKE, "greeting": greeting}
    return {"name": name, "config": config}


@dataclass
class Shop:
    owner: Person
    agent_id: str
    other_agent_id: str
    key: str
    key_id: str


async def make_shop(api: Api, *, origins: list[str] | None = None) -> Shop:
    owner = await api.person(tag="shop")
    made = (
        await api.call("POST", "/v1/agents", owner, json=shop_agent("Front desk", "Hi!"))
    ).json()
    await api.call("POST", f"/v1/agents/{made['id']}/publish", owner)
    other = (await api.call("POST", "/v1/agents", owner, json=shop_agent("Back", "Yo"))).json()
    await api.call("POST", f"/v1/agents/{other['id']}/publish", owner)
    body = {"name": "site", "kind": "publishable", "agent_id": made["id"]}
    if origins is not None:
        body["allowed_origins"] = origins
    r = await api.call("POST", "/v1/api-keys", owner, json=body)
    assert r.status_code == 201, r.text
    return Shop(owner, made["id"], other["id"], r.json()["secret"], r.json()["id"])


def rejected(code: str) -> float:
    value = REGISTRY.get_sample_value("cap_widget_rejected_total", {"code": code})
    return value or 0.0


@contextlib.asynccontextmanager
async def calls(api: Api) -> AsyncIterator[WebRtcGateway]:
    """The app's WebRTC part as ``create_app`` mounts it, on fake providers."""
    runtime = VoiceRuntime(registry(), {"default": agent(greeting="Local hello")})
    api.app.state.voice = runtime
    # As voice_lifespan does: the runtime ends the sessions, then the gateway the calls.
    listeners = api.services.suspension_listeners
    listeners.append(runtime.end_sessions_of)
    await runtime.start()
    try:
        async with webrtc_lifespan(api.app):
            yield api.app.state.webrtc
    finally:
        listeners.remove(runtime.end_sessions_of)
        await runtime.aclose()


async def offer(api: Api, key: str, agent_ref: str, origin: str | None = None) -> httpx.Response:
    pc, sdp = await browser_like_offer()
    try:
        headers = {"Origin": origin} if origin else {}
        body = {"sdp": sdp, "type": "offer", "agent": agent_ref, "key": key}
        return await api.client.post("/v1/webrtc/offer", json=body, headers=headers)
    finally:
        await pc.close()


async def test_publishable_keys_are_made_listed_and_revoked_like_api_keys(api: Api) -> None:
    shop = await make_shop(api, origins=["https://Shop.Example/", "http://localhost:8080"])
    assert shop.key.startswith("pk_")
    listed = {k["id"]: k for k in (await api.call("GET", "/v1/api-keys", shop.owner)).json()}
    key = listed[shop.key_id]
    assert key["kind"] == "publishable" and key["scopes"] == ["agents.use"]
    assert key["agent_id"] == shop.agent_id
    assert key["allowed_origins"] == ["http://localhost:8080", SHOP]
    # A publishable key calls no API at all.
    r = await api.client.get("/v1/agents", headers={"Authorization": f"Bearer {shop.key}"})
    assert r.status_code == 401 and "publishable" in r.text
    revoked = await api.call("DELETE", f"/v1/api-keys/{shop.key_id}", shop.owner)
    assert revoked.json()["revoked_at"] is not None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"kind": "publishable"}, 422),  # no agent
        ({"kind": "publishable", "agent_id": "AGENT", "scopes": ["agents.read"]}, 422),
        ({"kind": "publishable", "agent_id": "AGENT", "allowed_origins": ["javascript:x"]}, 422),
        ({"kind": "publishable", "agent_id": "AGENT", "allowed_origins": ["https://a/b"]}, 422),
        ({"kind": "publishable", "agent_id": "no-such-agent"}, 404),
        ({"scopes": ["agents.use"], "allowed_origins": [SHOP]}, 422),  # secret keys have none
        ({"scopes": ["agents.use"], "agent_id": "AGENT"}, 422),
    ],
)
async def test_bad_publishable_key_requests_are_refused(
    api: Api, body: dict[str, Any], status: int
) -> None:
    shop = await make_shop(api)
    if body.get("agent_id") == "AGENT":
        body = {**body, "agent_id": shop.agent_id}
    r = await api.call("POST", "/v1/api-keys", shop.owner, json={"name": "k", **body})
    assert r.status_code == status, r.text


async def test_a_key_holds_no_more_than_its_creator(api: Api) -> None:
    shop = await make_shop(api)
    keeper = await api.member(
        shop.owner.org_id or "", "custom", permissions=["api_keys.manage", "agents.read"]
    )
    body = {"name": "k", "kind": "publishable", "agent_id": shop.agent_id}
    r = await api.call("POST", "/v1/api-keys", keeper, json=body)
    assert r.status_code == 403 and "agents.use" in r.text


async def test_offers_open_only_the_keys_agent_from_allowed_origins(api: Api) -> None:
    shop = await make_shop(api, origins=[SHOP])
    async with calls(api) as gateway:
        before = {c: rejected(c) for c in ("unauthorized", "origin_not_allowed")}
        r = await offer(api, shop.key, shop.agent_id, origin=SHOP)
        assert r.status_code == 200, r.text
        peer = gateway.peers[r.json()["session_id"]]
        # The published configuration of the organisation's agent, not a local one.
        assert peer.spec.id == shop.agent_id and peer.spec.org_id == shop.owner.org_id
        assert peer.spec.greeting == "Hi!"
        # By slug too.
        assert (await offer(api, shop.key, "front-desk", origin=SHOP)).status_code == 200
        for origin in ("https://evil.example", None):
            r = await offer(api, shop.key, shop.agent_id, origin=origin)
            assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
        r = await offer(api, shop.key, shop.other_agent_id, origin=SHOP)
        assert r.status_code == 403 and r.json()["error"]["code"] == "unauthorized"
        # Another organisation's key reaches nothing of this one.
        stranger = await make_shop(api)
        r = await offer(api, stranger.key, shop.agent_id)
        assert r.status_code == 403 and r.json()["error"]["code"] == "unauthorized"
        assert rejected("unauthorized") == before["unauthorized"] + 2
        assert rejected("origin_not_allowed") == before["origin_not_allowed"] + 2
        assert len(gateway.peers) == 2


async def test_revoked_keys_suspended_orgs_and_drafts_open_nothing(api: Api) -> None:
    shop = await make_shop(api)
    admin = await api.person(admin=True, org=False, tag="admin")
    draft = (await api.call("POST", "/v1/agents", shop.owner, json=shop_agent("Draft", "x"))).json()
    body = {"name": "d", "kind": "publishable", "agent_id": draft["id"]}
    draft_key = (await api.call("POST", "/v1/api-keys", shop.owner, json=body)).json()["secret"]
    async with calls(api) as gateway:
        r = await offer(api, draft_key, draft["id"])
        assert r.status_code == 409 and r.json()["error"]["code"] == "not_published"
        config = await api.client.get(
            "/v1/widget/config", params={"agent": shop.agent_id, "key": shop.key}
        )
        assert config.status_code == 200 and config.json()["greeting"] == "Hi!"

        suspended = rejected("org_suspended")
        await api.call(
            "POST", f"/v1/admin/orgs/{shop.owner.org_id}/suspend", admin, json={"reason": "t"}
        )
        r = await offer(api, shop.key, shop.agent_id)
        assert r.status_code == 403 and r.json()["error"]["code"] == "org_suspended"
        config = await api.client.get(
            "/v1/widget/config", params={"agent": shop.agent_id, "key": shop.key}
        )
        assert config.status_code == 403 and config.json()["error"]["code"] == "org_suspended"
        assert rejected("org_suspended") == suspended + 2

        await api.call("POST", f"/v1/admin/orgs/{shop.owner.org_id}/reactivate", admin)
        await api.call("DELETE", f"/v1/api-keys/{shop.key_id}", shop.owner)
        r = await offer(api, shop.key, shop.agent_id)
        assert r.status_code == 403 and r.json()["error"]["code"] == "key_revoked"
        assert not gateway.peers


async def test_suspending_an_org_ends_its_live_webrtc_calls(api: Api) -> None:
    shop = await make_shop(api)
    other = await make_shop(api)
    admin = await api.person(admin=True, org=False, tag="admin")
    async with calls(api) as gateway:
        session = await connect_webrtc(BASE_URL, key=shop.key, agent=shop.agent_id, http=api.client)
        bystander = await connect_webrtc(
            BASE_URL, key=other.key, agent=other.agent_id, http=api.client
        )
        try:
            assert session.started is not None
            runtime: VoiceRuntime = api.app.state.voice
            await until(lambda: len(runtime.sessions) == 2)
            r = await api.call(
                "POST", f"/v1/admin/orgs/{shop.owner.org_id}/suspend", admin, json={"reason": "t"}
            )
            assert r.status_code == 200, r.text
            seen = []
            async for event in session:
                seen.append(event)
                if isinstance(event, SessionEnded):
                    break
            assert any(isinstance(e, ErrorEvent) and e.code == "org_suspended" for e in seen)
            assert isinstance(seen[-1], SessionEnded) and seen[-1].reason == "org_suspended"
            assert gateway.closed_by_reason["org_suspended"] == 1
            # The other organisation's call goes on.
            (remaining,) = gateway.peers.values()
            assert remaining.spec.org_id == other.owner.org_id
            assert len(runtime.sessions) == 1
            with pytest.raises(CallRejected) as refused:
                await connect_webrtc(BASE_URL, key=shop.key, agent=shop.agent_id, http=api.client)
            assert refused.value.status == 403
        finally:
            await session.close()
            await bystander.close()


async def test_websocket_sessions_resolve_publishable_keys_too(api: Api) -> None:
    shop = await make_shop(api)
    limited = await make_shop(api, origins=[SHOP])
    runtime = VoiceRuntime(registry(), {"default": agent()})
    resolve = platform_resolver(api.services.settings, runtime, api.services)
    spec = await resolve(shop.agent_id, shop.key)
    assert spec.id == shop.agent_id and spec.org_id == shop.owner.org_id
    with pytest.raises(Unauthorized):
        await resolve(shop.other_agent_id, shop.key)
    # No page origin reaches a WebSocket resolver: origin-bound keys refuse it.
    with pytest.raises(Unauthorized):
        await resolve(limited.agent_id, limited.key)
    with pytest.raises(Unauthorized):
        await resolve("default", "pk_made-up")
    await api.call("DELETE", f"/v1/api-keys/{shop.key_id}", shop.owner)
    with pytest.raises(Unauthorized):
        await resolve(shop.agent_id, shop.key)
    # The key's agent deleted: an unknown agent, as for any other credential.
    gone = await make_shop(api)
    await api.call("DELETE", f"/v1/agents/{gone.agent_id}", gone.owner)
    with pytest.raises(UnknownAgent):
        await resolve(gone.agent_id, gone.key)


async def test_settings_keys_still_open_local_agents(api: Api) -> None:
    async with calls(api) as gateway:
        local_key = api.app.state.widget_keys.key_for("default")
        r = await offer(api, local_key, "default")
        assert r.status_code == 200, r.text
        assert gateway.peers[r.json()["session_id"]].spec.org_id is None
        r = await offer(api, "pk_made-up", "default")
        assert r.status_code == 403 and r.json()["error"]["code"] == "unauthorized"
