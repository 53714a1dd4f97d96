"""A phone call with the real offline stack: espeak-ng speech in over Twilio's
mu-law 8 kHz, Whisper hears it, llama.cpp answers, hibari speaks, the caller hears it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from control_plane.voice.runtime import VoiceRuntime
from media.codecs.g711 import ulaw_decode
from pipelines.agent import AgentSpec
from pipelines.providers.registry import ProviderRegistry
from tests.support.speech import rms_dbfs, speak
from tests.telephony.peer import TwilioPeer
from tests.telephony.support import (
    call_params,
    live_server,
    make_app,
    parse_stream,
    sign_upgrade,
    twilio_post,
)

pytestmark = pytest.mark.slow

CALL_SID = "CA" + "5" * 32


async def test_a_phone_call_with_the_offline_stack_hears_a_spoken_answer() -> None:
    pytest.importorskip("llama_cpp")
    agent = AgentSpec(id="default", greeting=None)  # whisper, llama, hibari
    runtime = VoiceRuntime(ProviderRegistry(), {"default": agent})
    app = make_app(runtime)
    async with live_server(app) as base, httpx.AsyncClient() as http:
        answer = await twilio_post(http, f"{base}/telephony/twilio/voice", call_params(CALL_SID))
        stream = parse_stream(answer.text)
        peer = TwilioPeer(
            stream.url,
            call_sid=CALL_SID,
            parameters=stream.parameters,
            signature=sign_upgrade(stream.url),
        )
        async with peer:
            await peer.pause(0.3)
            await peer.say(speak("What is the capital of France?", 8000))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 120  # cold model loads on a loaded 2-core box
            while peer.log.played_secs() < 1.0 and loop.time() < deadline:
                await peer.pause(0.2)
            session = next(iter(runtime.sessions.values()))
            words = session.history[0].content.lower()
            assert "capital" in words and "france" in words
            assert peer.log.played_secs() >= 1.0
            assert rms_dbfs(ulaw_decode(bytes(peer.played_audio))) > -40
