"""Voice sessions resolve their agent through the control plane when they present
a credential, and fall back to the locally configured agents when they do not."""

from __future__ import annotations

import pytest

from control_plane.voice.runtime import Unauthorized, UnknownAgent, VoiceRuntime
from control_plane.voice.setup import platform_resolver
from control_plane.webrtc.keys import SettingsWidgetKeys
from pipelines.agent import AgentSpec, ProviderSpec
from pipelines.providers.registry import ProviderRegistry
from tests.control_plane.support import Api
from tests.control_plane.test_agents import AGENT

LOCAL = AgentSpec(id="default", greeting=None)


def runtime_with_local_agent() -> VoiceRuntime:
    return VoiceRuntime(ProviderRegistry(), {"default": LOCAL})


async def test_api_key_sessions_get_their_orgs_published_agent(api: Api) -> None:
    owner = await api.person()
    created = (await api.call("POST", "/v1/agents", owner, json=AGENT)).json()
    await api.call("POST", f"/v1/agents/{created['id']}/publish", owner)
    key = await api.api_key(owner, ["agents.use"])
    runtime = runtime_with_local_agent()
    resolve = platform_resolver(api.services.settings, runtime, api.services)

    spec = await resolve("front-desk", key)
    assert spec.id == created["id"] and spec.greeting == "Welcome!"
    with pytest.raises(Unauthorized):
        await resolve("front-desk", "cap_not-a-real-key")
    with pytest.raises(UnknownAgent):
        await resolve("no-such-agent", key)
    # Another organisation's key does not reach this agent.
    stranger = await api.person()
    other_key = await api.api_key(stranger, ["agents.use"])
    with pytest.raises(UnknownAgent):
        await resolve(created["id"], other_key)


async def test_keyless_sessions_get_only_local_agents_unless_keys_are_required(api: Api) -> None:
    runtime = runtime_with_local_agent()
    settings = api.services.settings
    resolve = platform_resolver(settings, runtime, api.services)
    assert await resolve("default", None) is LOCAL
    # A widget key from settings opens the local agent it grants; a made-up one nothing.
    derived = SettingsWidgetKeys(settings.secret_key).key_for("default")
    assert await resolve("default", derived) is LOCAL
    with pytest.raises(Unauthorized):
        await resolve("default", "pk_widgetkey")
    with pytest.raises(UnknownAgent):
        await resolve("front-desk", None)
    strict = platform_resolver(
        settings.model_copy(update={"voice_require_key": True}), runtime, api.services
    )
    with pytest.raises(Unauthorized):
        await strict("default", None)


async def test_suspending_an_org_ends_its_live_voice_sessions() -> None:
    from dataclasses import replace

    from pipelines.providers.fake import FakeLLM, FakeSTT, FakeTTS

    registry = ProviderRegistry()
    for stage, factory in (("stt", FakeSTT), ("llm", FakeLLM), ("tts", FakeTTS)):
        registry.register(stage, "fake", factory)  # type: ignore[arg-type]
    runtime = VoiceRuntime(registry)
    await runtime.start()
    spec = AgentSpec(id="a", greeting=None)
    spec = replace(
        spec,
        stt=(ProviderSpec("fake"),),
        llm=(ProviderSpec("fake"),),
        tts=(ProviderSpec("fake"),),
    )
    events: dict[str, list[object]] = {"s1": [], "s2": []}
    try:
        for sid, org in (("s1", "org-a"), ("s2", "org-b")):
            await runtime.open_session(
                sid,
                replace(spec, org_id=org),
                transport="websocket",
                on_event=events[sid].append,
                on_audio=lambda _f: None,
            )
        assert await runtime.end_sessions_of("org-a") == 1
        assert set(runtime.sessions) == {"s2"}
        (ended,) = events["s1"]
        assert ended.code == "org_suspended" and ended.fatal  # type: ignore[attr-defined]
        assert events["s2"] == []
    finally:
        await runtime.aclose()
