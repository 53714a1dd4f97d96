from __future__ import annotations

import pytest
from cap_sdk import (
    AgentInterrupted,
    ErrorEvent,
    ProtocolError,
    SessionEnded,
    SessionStarted,
    StateChanged,
    TurnMetrics,
    UnknownEvent,
    parse_event,
)


def test_known_events_become_dataclasses() -> None:
    started = parse_event(
        {"type": "session.started", "session_id": "s1", "agent": "default", "protocol": 1,
         "input_audio": {"encoding": "pcm16", "sample_rate": 16000}}
    )  # fmt: skip
    assert started == SessionStarted(session_id="s1", agent="default", protocol=1)
    assert parse_event({"type": "state", "state": "thinking", "previous": "listening"}) == (
        StateChanged("thinking", "listening")
    )
    cut = parse_event(
        {"type": "agent.interrupted", "turn_id": 2, "heard_text": "Hi", "played_ms": 400}
    )
    assert cut == AgentInterrupted(2, "Hi", 400)
    metrics = parse_event({"type": "turn.metrics", "turn_id": 1, "marks": {"a": 1.0}})
    assert isinstance(metrics, TurnMetrics) and metrics.voice_to_voice_ms is None
    assert parse_event({"type": "session.ended", "reason": "hangup"}) == SessionEnded("hangup")
    error = parse_event({"type": "error", "code": "invalid_json", "message": "bad"})
    assert error == ErrorEvent("invalid_json", "bad", fatal=False)


def test_new_event_types_and_fields_are_tolerated() -> None:
    event = parse_event({"type": "agent.emotion", "mood": "happy"})
    assert event == UnknownEvent("agent.emotion", {"type": "agent.emotion", "mood": "happy"})
    state = parse_event({"type": "state", "state": "listening", "previous": "thinking", "new": 1})
    assert state == StateChanged("listening", "thinking")


@pytest.mark.parametrize(
    "data",
    [None, [], "state", {"no": "type"}, {"type": 3}, {"type": "state", "state": "listening"}],
)
def test_malformed_events_raise_protocol_error(data: object) -> None:
    with pytest.raises(ProtocolError):
        parse_event(data)
