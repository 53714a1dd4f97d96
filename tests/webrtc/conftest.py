from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from control_plane.voice.runtime import VoiceRuntime
from tests.webrtc.stack import Stack, agent, build_app, registry, running


@pytest.fixture
def stack() -> Stack:
    runtime = VoiceRuntime(
        registry(stt_script=["tell me a story"]),
        {"default": agent(), "greeter": agent("greeter", greeting="Welcome to the shop.")},
    )
    return build_app(runtime, explicit_keys={"pk_site": ["default", "ghost"]})


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with running(stack) as client:
        yield client
