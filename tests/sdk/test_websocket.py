"""The SDK's WebSocket client against the real server on a port."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest
from cap_sdk import (
    AgentAudio,
    AgentAudioDone,
    AgentInterrupted,
    AgentTextDone,
    PcmSource,
    Pong,
    SessionRejected,
    TranscriptFinal,
    UserSpeechStarted,
    connect_websocket,
)

from control_plane.voice.runtime import VoiceRuntime
from tests.support.speech import speak
from tests.webrtc.stack import STORY, LiveServer, agent, live_app, registry, serve


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    runtime = VoiceRuntime(registry(stt_script=["hello agent"]), {"default": agent()})
    with serve(live_app(runtime)) as live:
        yield live


async def test_text_in_text_and_audio_out(server: LiveServer) -> None:
    async with await connect_websocket(server.ws_url, output_rate=24_000) as call:
        assert call.started is not None and call.session_id
        await call.send_text("good morning")
        audio = 0
        async with asyncio.timeout(10):
            async for event in call:
                if isinstance(event, AgentAudio):
                    assert event.sample_rate == 24_000
                    audio += len(event.pcm)
                if isinstance(event, AgentTextDone):
                    assert event.text == "You said good morning."
                if audio >= 24_000 * 2:  # a second of reply audio
                    break
        await call.ping("p")
        async with asyncio.timeout(5):
            pong = await call.next_event(Pong)
        assert isinstance(pong, Pong) and pong.id == "p"


async def test_streamed_speech_is_heard_and_interrupt_stops_the_story(server: LiveServer) -> None:
    async with await connect_websocket(server.ws_url) as call:
        speech = PcmSource(speak("Hello there agent.", 16_000), 16_000, trailing_silence=1.0)
        await call.stream(speech)
        async with asyncio.timeout(10):
            assert isinstance(await call.next_event(UserSpeechStarted), UserSpeechStarted)
            final = await call.next_event(TranscriptFinal)
        assert isinstance(final, TranscriptFinal) and final.text == "hello agent"
        async with asyncio.timeout(10):
            await call.next_event(AgentAudioDone)
        await call.send_text("tell me a story")
        async with asyncio.timeout(10):
            loud = 0
            while loud < 20:
                event = await call.next_event(AgentAudio)
                assert isinstance(event, AgentAudio)
                loud += int(np.abs(np.frombuffer(event.pcm, dtype="<i2")).max() > 1000)
            await call.interrupt()
            cut = await call.next_event(AgentInterrupted)
        assert isinstance(cut, AgentInterrupted) and STORY.startswith(cut.heard_text)


async def test_unknown_agent_is_refused(server: LiveServer) -> None:
    with pytest.raises(SessionRejected, match="unknown_agent"):
        await connect_websocket(server.ws_url, agent="nobody")


async def test_bad_rates_are_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="sample rates"):
        await connect_websocket("ws://127.0.0.1:9/v1/ws", input_rate=11_025)
