"""Each VAD backend finds the turn in real speech streamed over the WebSocket."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.settings import Settings
from control_plane.voice.runtime import VoiceRuntime
from tests.control_plane.voice.conftest import fake_agent, fake_registry
from tests.support.speech import frames, silence, speak

pytestmark = pytest.mark.slow

# make_vad: "silero" is the shared SileroWorker, "silero_per_session" a SileroVad per call.
BACKENDS = ("webrtc", "silero", "silero_batched", "silero_per_session")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("data")))
    agents = {name: fake_agent(name, vad=name) for name in BACKENDS}
    app.state.voice = VoiceRuntime(fake_registry(), agents)
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("backend", BACKENDS)
def test_speech_is_one_turn_with_every_vad(client: TestClient, backend: str) -> None:
    pcm = silence(0.5) + speak("Hello there, how are you doing today?") + silence(1.2)
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "session.start", "agent": backend})
        start = time.monotonic()
        for i, frame in enumerate(frames(pcm)):
            ws.send_bytes(frame)
            time.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))
        kinds: list[str] = []
        while "transcript.final" not in kinds:
            message = ws.receive()
            if message.get("text"):
                event = json.loads(message["text"])
                kinds.append(event["type"])
                if event["type"] == "user.speech_started":
                    # Speech begins 0.5 s in; the VAD may not put it before that.
                    assert event["at"] - start >= 0.45
        assert kinds.count("user.speech_started") == 1
        assert kinds.count("user.speech_ended") == 1
