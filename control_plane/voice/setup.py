"""Starts the voice runtime with the app: agents, providers and the playout clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from control_plane.settings import Settings
from control_plane.voice.runtime import AgentResolver, Unauthorized, UnknownAgent, VoiceRuntime
from pipelines.agent import AgentSpec
from pipelines.providers.registry import ProviderRegistry


def provider_defaults(settings: Settings) -> dict[str, dict[str, Any]]:
    """Per-provider default options from settings (local model paths)."""
    defaults: dict[str, dict[str, Any]] = {}
    if settings.whisper_model_path:
        defaults["stt.whisper"] = {"model_path": settings.whisper_model_path}
    if settings.llm_model_path:
        defaults["llm.llama"] = {"model_path": settings.llm_model_path}
    defaults["tts.hibari"] = {"voice": settings.tts_voice}
    return defaults


def build_runtime(settings: Settings) -> VoiceRuntime:
    agent = AgentSpec.load(settings.agent_file) if settings.agent_file else AgentSpec()
    registry = ProviderRegistry(provider_defaults(settings))
    return VoiceRuntime(registry, {agent.id: agent})


WIDGET_KEY_PREFIX = "pk_"


def platform_resolver(settings: Settings, runtime: VoiceRuntime, services: Any) -> AgentResolver:
    """Sessions with an API key or login token get their organisation's published
    agents from the control plane, and so do publishable (``pk_``) keys the
    control plane issued (the one agent each is bound to). Widget keys from
    settings get the local agent they grant; keyless sessions get the locally
    configured agents, unless ``voice_require_key`` is set."""
    from control_plane.agents.resolve import voice_resolver
    from control_plane.webrtc.admission import WidgetRejected, resolve_widget_agent
    from control_plane.webrtc.keys import SettingsWidgetKeys

    platform = voice_resolver(services)
    local_keys = SettingsWidgetKeys(settings.secret_key, settings.widget_keys)

    async def widget(agent_id: str, key: str) -> AgentSpec | None:
        # No page origin reaches a resolver: a key limited to listed origins
        # refuses it, so such keys work only where the origin is checked.
        try:
            resolved = await resolve_widget_agent(services, key, agent_id, None)
        except WidgetRejected as exc:
            if exc.code in ("unknown_agent", "not_published"):
                raise UnknownAgent(agent_id) from exc
            raise Unauthorized(exc.message) from exc
        return resolved.to_agent_spec() if resolved is not None else None

    async def resolve(agent_id: str, credential: str | None) -> AgentSpec:
        if credential and not credential.startswith(WIDGET_KEY_PREFIX):
            return await platform(agent_id, credential)
        if credential:
            spec = await widget(agent_id, credential)
            if spec is not None:
                return spec
            if not await local_keys.grants(credential, agent_id, None):
                raise Unauthorized("this key does not grant that agent")
        if settings.voice_require_key and not credential:
            raise Unauthorized("this server requires an API key for voice sessions")
        spec = runtime.agents.get(agent_id)
        if spec is None:
            raise UnknownAgent(agent_id)
        return spec

    return resolve


@asynccontextmanager
async def voice_lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime: VoiceRuntime | None = getattr(app.state, "voice", None)
    if runtime is None:
        settings: Settings = app.state.settings
        runtime = build_runtime(settings)
        services = getattr(app.state, "services", None)
        if services is not None:
            runtime.resolver = platform_resolver(settings, runtime, services)
            services.suspension_listeners.append(runtime.end_sessions_of)
            runtime.retriever_factory = lambda org, kbs: (
                services.retriever_factory(org, kbs) if services.retriever_factory else None
            )
        app.state.voice = runtime
    await runtime.start()
    warming = app.state.settings.warm_up_models
    warm = asyncio.create_task(runtime.warm_up() if warming else asyncio.sleep(0))
    try:
        yield
    finally:
        warm.cancel()
        with contextlib.suppress(BaseException):
            await warm
        await runtime.aclose()
