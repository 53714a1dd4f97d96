"""Whole calls over WebRTC with the SDK's aiortc client: audio both ways, events, barge-in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import httpx
import numpy as np
import pytest
from cap_sdk import (
    AgentAudio,
    AgentAudioDone,
    AgentInterrupted,
    AgentTextDone,
    CallRejected,
    ErrorEvent,
    Event,
    PcmSource,
    Pong,
    SessionEnded,
    SessionStarted,
    StateChanged,
    TranscriptFinal,
    TurnMetrics,
    UserSpeechStarted,
    WebRtcSession,
    connect_webrtc,
)

from control_plane.voice.protocol import MAX_BAD_MESSAGES
from tests.support.speech import speak
from tests.webrtc.stack import BASE_URL, STORY, Stack, until

LOUD = 1000.0  # RMS of the fake TTS tone is ~5600; silence is 0


def rms(event: AgentAudio) -> float:
    samples = np.frombuffer(event.pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0


async def call(stack: Stack, http: httpx.AsyncClient, agent: str = "default") -> WebRtcSession:
    return await connect_webrtc(BASE_URL, key=stack.key(agent), agent=agent, http=http)


async def collect(session: WebRtcSession, until_type: type, within: float = 10.0) -> list[Event]:
    seen: list[Event] = []
    async with asyncio.timeout(within):
        async for event in session:
            seen.append(event)
            if isinstance(event, until_type):
                return seen
    raise AssertionError(f"session ended before {until_type.__name__}")


def loud_frames(events: Sequence[Event]) -> int:
    return sum(1 for e in events if isinstance(e, AgentAudio) and rms(e) > LOUD)


async def test_typed_question_gets_text_and_audio(stack: Stack, http: httpx.AsyncClient) -> None:
    session = await call(stack, http)
    try:
        assert isinstance(session.started, SessionStarted)
        assert session.started.session_id == session.session_id
        assert session.connect_seconds is not None and session.connect_seconds > 0
        await session.send_text("hello there")
        events = await collect(session, TurnMetrics)
        events += await collect(session, StateChanged)
        kinds = [type(e) for e in events if not isinstance(e, AgentAudio)]
        assert kinds[0] is SessionStarted
        final = next(e for e in events if isinstance(e, TranscriptFinal))
        done = next(e for e in events if isinstance(e, AgentTextDone))
        assert final.text == "hello there" and done.text == "You said hello there."
        assert AgentAudioDone in kinds
        states = [e.state for e in events if isinstance(e, StateChanged)]
        assert "agent_speaking" in states and states[-1] == "listening"
        audio = [e for e in events if isinstance(e, AgentAudio)]
        assert {e.sample_rate for e in audio} == {48_000}
        # ~1.2 s of reply tone: at least a second of loud 20 ms frames arrived.
        assert loud_frames(events) >= 50
    finally:
        await session.close()


async def test_greeting_arrives_after_session_started(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    session = await call(stack, http, agent="greeter")
    try:
        events = await collect(session, AgentAudioDone)
        assert session.started is not None and session.started.agent == "greeter"
        done = next(e for e in events if isinstance(e, AgentTextDone))
        assert done.text == "Welcome to the shop."
        assert loud_frames(events) >= 30
    finally:
        await session.close()


async def test_spoken_question_is_heard_and_speech_barges_in(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    session = await call(stack, http)
    try:
        question = PcmSource(speak("Please tell me a story.", 48_000), 48_000, trailing_silence=1.0)
        await session.stream(question, wait=False)
        events = await collect(session, StateChanged, within=15)
        while not (isinstance(events[-1], StateChanged) and events[-1].state == "agent_speaking"):
            events += await collect(session, StateChanged, within=15)
        assert any(isinstance(e, UserSpeechStarted) for e in events)
        final = next(e for e in events if isinstance(e, TranscriptFinal))
        assert final.text == "tell me a story"
        playing: list[Event] = []
        # Let the story play for a second, then talk over it.
        async with asyncio.timeout(5):
            while loud_frames(playing) < 50:
                playing.append(await session.next_event(AgentAudio))
        await session.stream(PcmSource(speak("Stop, wait a moment.", 48_000), 48_000), wait=False)
        events = await collect(session, AgentInterrupted, within=10)
        cut = events[-1]
        assert isinstance(cut, AgentInterrupted)
        assert cut.heard_text and STORY.startswith(cut.heard_text)
        assert len(cut.heard_text) < len(STORY) / 2 and cut.played_ms >= 1000
        # The agent goes quiet at once: past the frames already in flight, silence
        # for the rest of the user's sentence.
        after = [await session.next_event(AgentAudio) for _ in range(40)]
        assert loud_frames(after[15:]) == 0
    finally:
        await session.close()


async def test_interrupt_message_stops_the_agent(stack: Stack, http: httpx.AsyncClient) -> None:
    session = await call(stack, http)
    try:
        await session.send_text("tell me a story")
        heard: list[Event] = []
        async with asyncio.timeout(10):
            while loud_frames(heard) < 25:
                heard.append(await session.next_event(AgentAudio))
        await session.interrupt()
        events = await collect(session, AgentInterrupted)
        cut = events[-1]
        assert isinstance(cut, AgentInterrupted) and STORY.startswith(cut.heard_text)
        after = [await session.next_event(AgentAudio) for _ in range(40)]
        assert loud_frames(after[15:]) == 0
    finally:
        await session.close()


async def test_bad_messages_get_errors_and_the_call_goes_on(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    session = await call(stack, http)
    try:
        session.channel.send("not json")
        session.channel.send(json.dumps({"type": "session.start"}))
        session.channel.send(b"\x00\x01")
        errors = [await session.next_event(ErrorEvent) for _ in range(3)]
        assert [e.code for e in errors] == ["invalid_json", "already_started", "invalid_message"]
        assert all(not e.fatal for e in errors)
        await session.ping("still-there")
        pong = await session.next_event(Pong)
        assert isinstance(pong, Pong) and pong.id == "still-there"
    finally:
        await session.close()


async def test_a_flood_of_bad_messages_ends_that_call_only(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    good = await call(stack, http)
    bad = await call(stack, http)
    try:
        for _ in range(MAX_BAD_MESSAGES + 1):
            bad.channel.send("{")
        ended = await bad.next_event(SessionEnded)
        assert isinstance(ended, SessionEnded) and ended.reason == "bad_messages"
        await until(lambda: bad.session_id not in stack.gateway.peers)
        await good.send_text("are you there")
        done = await good.next_event(AgentTextDone)
        assert isinstance(done, AgentTextDone) and done.text == "You said are you there."
    finally:
        await good.close()
        await bad.close()


async def test_hang_up_over_http_tells_the_client(stack: Stack, http: httpx.AsyncClient) -> None:
    session = await call(stack, http)
    try:
        response = await http.delete(f"/v1/webrtc/sessions/{session.session_id}")
        assert response.status_code == 204
        ended = await session.next_event(SessionEnded)
        assert isinstance(ended, SessionEnded) and ended.reason == "hangup"
        assert not stack.gateway.peers and not stack.runtime.sessions
    finally:
        await session.close()


async def test_client_hang_up_releases_the_server_side(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    session = await call(stack, http)
    assert stack.runtime.sessions
    await session.close()
    await until(lambda: not stack.gateway.peers)
    assert not stack.runtime.sessions
    assert stack.gateway.closed_by_reason["hangup"] == 1
    assert stack.runtime.clock.callback_count == 0


async def test_sdk_reports_a_refused_key(stack: Stack, http: httpx.AsyncClient) -> None:
    with pytest.raises(CallRejected) as refused:
        await connect_webrtc(BASE_URL, key="pk_wrong", http=http)
    assert refused.value.status == 403
