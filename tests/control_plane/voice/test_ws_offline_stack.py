"""The whole path with real audio and the offline stack, through the WebSocket:
espeak-ng speech in, Whisper transcript, an answer spoken by hibari, barge-in."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from control_plane.app import create_app
from control_plane.settings import Settings
from control_plane.voice.runtime import VoiceRuntime
from pipelines.agent import AgentSpec, ProviderSpec
from pipelines.providers.fake import FakeLLM, FakeLLMKnobs
from pipelines.providers.registry import ProviderRegistry
from tests.support.speech import frames, silence, speak

pytestmark = pytest.mark.slow

STORY = " ".join(f"Part {i} of the story goes on for quite a long while." for i in range(10))


def story_or_echo(messages: Any) -> str:
    """The first answer is a long story (to be interrupted); later ones echo."""
    if not any(m.role == "assistant" for m in messages):
        return STORY
    return f"You said {messages[-1].content}."


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    registry = ProviderRegistry()
    registry.register(
        "llm", "story", lambda: FakeLLM(story_or_echo, FakeLLMKnobs(first_token_latency=0.05))
    )
    offline = AgentSpec(id="offline", greeting=None, llm=(ProviderSpec("llama"),))
    storyteller = AgentSpec(id="story", greeting=None, llm=(ProviderSpec("story"),))
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("data")))
    app.state.voice = VoiceRuntime(registry, {"offline": offline, "story": storyteller})
    with TestClient(app) as c:
        yield c


def stream(ws: WebSocketTestSession, pcm: bytes) -> None:
    """Send 20 ms frames in real time, as a microphone would."""
    start = time.monotonic()
    for i, frame in enumerate(frames(pcm)):
        ws.send_bytes(frame)
        delay = start + (i + 1) * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def collect(
    ws: WebSocketTestSession, until: str, limit: int = 5000
) -> tuple[list[dict[str, Any]], int]:
    events: list[dict[str, Any]] = []
    audio = 0
    for _ in range(limit):
        message = ws.receive()
        if message.get("bytes"):
            audio += len(message["bytes"])
            continue
        event = json.loads(message["text"])
        events.append(event)
        if event["type"] == until:
            return events, audio
    raise AssertionError(f"no {until}: {[e['type'] for e in events]}")


def test_spoken_question_is_transcribed_and_answered_with_audio(client: TestClient) -> None:
    pytest.importorskip("llama_cpp")
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "session.start", "agent": "offline"})
        stream(ws, speak("What is the capital of France?") + silence(1.0))
        events, audio = collect(ws, "turn.metrics")
        (final,) = [e for e in events if e["type"] == "transcript.final"]
        words = final["text"].lower()
        assert "capital" in words and "france" in words
        (done,) = [e for e in events if e["type"] == "agent.text.done"]
        assert len(done["text"].split()) >= 2
        assert audio >= 16_000 * 2 // 2  # at least half a second of spoken answer
        metrics = events[-1]
        assert metrics["voice_to_voice_ms"] > 0
        assert metrics["marks"]["stt_final"] < metrics["marks"]["first_audio_out"]


def test_barge_in_with_real_speech_stops_the_agent_and_keeps_what_was_heard(
    client: TestClient,
) -> None:
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "session.start", "agent": "story"})
        stream(ws, speak("Tell me a long story about a dragon.") + silence(0.8))
        events, audio = collect(ws, "state", limit=5000)
        while events[-1].get("state") != "agent_speaking":
            more, extra = collect(ws, "state")
            events += more
            audio += extra
        stream(ws, silence(1.5))  # let the story play for a while
        stream(ws, speak("Stop, stop, wait a moment.") + silence(0.3))
        events, _ = collect(ws, "agent.interrupted")
        cut = events[-1]
        heard = cut["heard_text"]
        assert heard and STORY.startswith(heard) and len(heard) < len(STORY) / 2
        assert cut["played_ms"] >= 1000
        session = next(iter(client.app.state.voice.sessions.values()))  # type: ignore[attr-defined]
        agent_turns = [m for m in session.history if m.role == "assistant"]
        assert agent_turns[0].content == heard and agent_turns[0].interrupted
        # After the cut no more agent audio of that reply arrives.
        ws.send_json({"type": "ping", "id": "after"})
        late_audio = 0
        while True:
            message = ws.receive()
            if message.get("bytes"):
                late_audio += len(message["bytes"])
            elif json.loads(message["text"]).get("type") == "pong":
                break
        assert late_audio <= 2 * 640
