"""The developer WebSocket protocol: a text turn, and a corpus of malformed input
with the exact error each must produce, without harming the session or others."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

START = {"type": "session.start", "agent": "default"}


def next_json(ws: WebSocketTestSession, kind: str, limit: int = 2000) -> dict[str, Any]:
    """Read until a JSON message of ``kind`` (skipping audio and other events)."""
    for _ in range(limit):
        message = ws.receive()
        if message.get("text"):
            data: dict[str, Any] = json.loads(message["text"])
            if data["type"] == kind:
                return data
    raise AssertionError(f"no {kind} message")


def started(ws: WebSocketTestSession) -> dict[str, Any]:
    ws.send_json(START)
    return next_json(ws, "session.started")


def test_text_turn_streams_text_audio_and_metrics(client: TestClient) -> None:
    with client.websocket_connect("/v1/ws") as ws:
        info = started(ws)
        assert info["protocol"] == 1 and info["agent"] == "default"
        ws.send_json({"type": "input.text", "text": "hello there"})
        audio = 0
        texts: list[str] = []
        while True:
            message = ws.receive()
            if message.get("bytes"):
                audio += len(message["bytes"])
                continue
            event = json.loads(message["text"])
            if event["type"] == "agent.text.delta":
                texts.append(event["text"])
            if event["type"] == "turn.metrics":
                break
        assert "".join(texts).startswith("You said: hello there.")
        assert audio > 0 and audio % 640 == 0  # whole 20 ms PCM16 frames at 16 kHz
        assert event["marks"]["first_audio_out"] >= event["marks"]["llm_first_token"]


MALFORMED: list[tuple[str | bytes, str]] = [
    ("not json", "invalid_json"),
    ("[1, 2]", "invalid_message"),
    ('{"no_type": 1}', "invalid_message"),
    ('{"type": 5}', "invalid_message"),
    ('{"type": "dance"}', "unknown_type"),
    ('{"type": "input.text"}', "invalid_message"),
    ('{"type": "input.text", "text": ""}', "invalid_message"),
    ('{"type": "input.text", "text": "' + "x" * 4001 + '"}', "invalid_message"),
    ('{"type": "input.text", "text": "hi", "extra": 1}', "invalid_message"),
    ('{"type": "session.start"}', "already_started"),
    (b"\x00" * (64 * 1024 + 2), "frame_too_large"),
]


@pytest.mark.parametrize(("message", "code"), MALFORMED)
def test_malformed_message_gets_its_error_and_the_session_continues(
    client: TestClient, message: str | bytes, code: str
) -> None:
    with client.websocket_connect("/v1/ws") as ws:
        started(ws)
        if isinstance(message, bytes):
            ws.send_bytes(message)
        else:
            ws.send_text(message)
        error = next_json(ws, "error")
        assert error["code"] == code
        assert error["message"]
        ws.send_json({"type": "ping", "id": 1})
        assert next_json(ws, "pong")["id"] == 1


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ('{"type": "input.text", "text": "hi"}', "not_started"),
        ('{"type": "interrupt"}', "not_started"),
        ('{"type": "session.start", "agent": "nobody"}', "unknown_agent"),
        ('{"type": "session.start", "input_audio": {"sample_rate": 44100}}', "invalid_message"),
        ('{"type": "session.start", "input_audio": {"encoding": "opus"}}', "invalid_message"),
        ('{"type": "session.start", "protocol": 2}', "invalid_message"),
        (b"\x01\x02", "audio_before_start"),
    ],
)
def test_messages_before_a_session_are_refused(
    client: TestClient, message: str | bytes, code: str
) -> None:
    with client.websocket_connect("/v1/ws") as ws:
        if isinstance(message, bytes):
            ws.send_bytes(message)
        else:
            ws.send_text(message)
        assert next_json(ws, "error")["code"] == code
        # The socket is still usable: a good start now works.
        started(ws)


def test_oversized_text_message_closes_with_1009(client: TestClient) -> None:
    with client.websocket_connect("/v1/ws") as ws:
        started(ws)
        ws.send_text(json.dumps({"type": "input.text", "text": "x" * 20_000}))
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(1000):
                ws.receive_text()
        assert closed.value.code == 1009


def test_a_flood_of_garbage_closes_only_that_socket(client: TestClient) -> None:
    with client.websocket_connect("/v1/ws") as good, client.websocket_connect("/v1/ws") as bad:
        started(good)
        started(bad)
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(200):
                bad.send_text("garbage")
            for _ in range(1000):
                bad.receive_text()
        assert closed.value.code == 1008
        good.send_json({"type": "input.text", "text": "still here"})
        assert next_json(good, "agent.text.done")["text"].startswith("You said: still here.")


def test_odd_length_pcm_chunks_are_reassembled(client: TestClient) -> None:
    with client.websocket_connect("/v1/ws") as ws:
        started(ws)
        for _ in range(10):
            ws.send_bytes(b"\x00" * 321)  # splits samples across messages
        ws.send_json({"type": "ping", "id": "x"})
        assert next_json(ws, "pong")["id"] == "x"
