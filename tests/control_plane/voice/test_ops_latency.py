"""Ops surfaces reflect real turns: metrics, latency summary, per-call timelines
(read by the platform administrator ``cap serve`` seeds, after logging in)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.ops.latency import percentile
from control_plane.settings import Settings
from control_plane.voice.runtime import VoiceRuntime
from tests.control_plane.voice.conftest import fake_agent, fake_registry

ADMIN_PASSWORD = "admin password 1"


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(
        data_dir=tmp_path,
        seed_on_start=True,
        admin_password=ADMIN_PASSWORD,
        password_time_cost=1,
        password_memory_kib=1024,
        password_parallelism=1,
    )
    app = create_app(settings)
    app.state.voice = VoiceRuntime(fake_registry(), {"default": fake_agent()})
    with TestClient(app) as client:
        login = {"email": settings.admin_email, "password": ADMIN_PASSWORD}
        token = client.post("/v1/auth/login", json=login).json()["token"]
        yield client, {"Authorization": f"Bearer {token}"}


def run_text_turn(client: TestClient, text: str) -> str:
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "session.start"})
        session_id = ""
        ws.send_json({"type": "input.text", "text": text})
        while True:
            message = ws.receive()
            if message.get("text"):
                event = json.loads(message["text"])
                if event["type"] == "session.started":
                    session_id = event["session_id"]
                if event["type"] == "turn.metrics":
                    return session_id


def test_latency_summary_and_timelines_follow_the_turns(
    admin: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = admin
    assert client.get("/v1/ops/latency").status_code == 401
    assert client.get("/v1/ops/latency", headers=auth).json()["turns"] == 0
    first = run_text_turn(client, "one")
    run_text_turn(client, "two")
    summary = client.get("/v1/ops/latency", headers=auth).json()
    assert summary["turns"] == 2
    assert summary["spans"]["llm_first_token"]["count"] == 2
    assert summary["spans"]["llm_first_token"]["p50_ms"] > 0
    # Text turns have no speech, so no voice-to-voice figure.
    assert summary["spans"]["voice_to_voice"]["count"] == 0
    timelines = client.get("/v1/ops/turns", params={"session_id": first}, headers=auth).json()
    assert len(timelines) == 1
    marks = timelines[0]["marks_ms"]
    assert next(iter(marks)) == "llm_request" and "first_audio_out" in marks
    assert client.get("/v1/ops/turns", params={"limit": 0}, headers=auth).status_code == 422
    page = client.get("/dashboard/latency")
    assert page.status_code == 200 and "/v1/ops/latency" in page.text


def test_prometheus_metrics_count_sessions_and_bad_messages(
    admin: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = admin
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_text("{bad")
        ws.receive_text()
    assert client.get("/metrics").status_code == 401
    body = client.get("/metrics", headers=auth).text
    assert 'cap_voice_bad_messages_total{code="invalid_json",transport="websocket"}' in body


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([5], 0.95) == 5
    assert percentile([10, 0], 1.0) == 10
