"""Starts the voice runtime with the app: agents, providers and the playout clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from control_plane.settings import Settings
from control_plane.voice.runtime import VoiceRuntime
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


@asynccontextmanager
async def voice_lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime: VoiceRuntime | None = getattr(app.state, "voice", None)
    if runtime is None:
        runtime = build_runtime(app.state.settings)
        app.state.voice = runtime
    await runtime.start()
    warm = asyncio.create_task(runtime.warm_up())
    try:
        yield
    finally:
        warm.cancel()
        with contextlib.suppress(BaseException):
            await warm
        await runtime.aclose()
