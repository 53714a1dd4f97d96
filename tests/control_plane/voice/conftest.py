from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.settings import Settings
from control_plane.voice.runtime import VoiceRuntime
from pipelines.agent import AgentSpec, ProviderSpec
from pipelines.providers.fake import FakeLLM, FakeLLMKnobs, FakeTTS, FakeTTSKnobs
from pipelines.providers.registry import ProviderRegistry

FAST_LLM = {"first_token_latency": 0.01, "token_interval": 0.001}


def fake_agent(agent_id: str = "default", **kw: object) -> AgentSpec:
    return AgentSpec(
        id=agent_id,
        greeting=None,
        stt=(ProviderSpec("fake"),),
        llm=(ProviderSpec("fake"),),
        tts=(ProviderSpec("fake"),),
        **kw,  # type: ignore[arg-type]
    )


def fake_registry() -> ProviderRegistry:
    registry = ProviderRegistry()
    registry.register("llm", "fake", lambda: FakeLLM(knobs=FakeLLMKnobs(**FAST_LLM)))
    registry.register("tts", "fake", lambda: FakeTTS(knobs=FakeTTSKnobs(first_audio_latency=0.01)))
    return registry


@pytest.fixture
def client(tmp_path: object) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path))  # type: ignore[arg-type]
    app.state.voice = VoiceRuntime(fake_registry(), {"default": fake_agent()})
    with TestClient(app) as c:
        yield c
