"""The events data channel: a corpus of bad client messages and the exact error each gets."""

from __future__ import annotations

import json

import pytest

from control_plane.voice.protocol import InputText, Interrupt, Ping, SessionEnd
from control_plane.webrtc.channel import (
    MAX_BUFFERED_BYTES,
    MAX_PENDING_EVENTS,
    EventChannel,
    Rejected,
    parse_client_message,
)

BAD: list[tuple[str | bytes, str]] = [
    (b"\x00\x01", "invalid_message"),
    ("not json", "invalid_json"),
    ("[1, 2]", "invalid_message"),
    ('{"text": "no type"}', "invalid_message"),
    ('{"type": 7}', "invalid_message"),
    ('{"type": "dance"}', "unknown_type"),
    ('{"type": "input.text"}', "invalid_message"),
    ('{"type": "input.text", "text": ""}', "invalid_message"),
    (json.dumps({"type": "input.text", "text": "x" * 4001}), "invalid_message"),
    ('{"type": "interrupt", "now": true}', "invalid_message"),
    ('{"type": "session.start", "agent": "default"}', "already_started"),
    (json.dumps({"type": "input.text", "text": "y" * 20_000}), "frame_too_large"),
]


@pytest.mark.parametrize(("data", "code"), BAD)
def test_bad_messages_are_rejected_with_their_code(data: str | bytes, code: str) -> None:
    result = parse_client_message(data)
    assert isinstance(result, Rejected)
    assert result.code == code
    assert result.message


def test_good_messages_parse_to_protocol_models() -> None:
    assert parse_client_message('{"type": "input.text", "text": "hi"}') == InputText(
        type="input.text", text="hi"
    )
    assert isinstance(parse_client_message('{"type": "interrupt"}'), Interrupt)
    assert isinstance(parse_client_message('{"type": "session.end"}'), SessionEnd)
    ping = parse_client_message('{"type": "ping", "id": 3}')
    assert isinstance(ping, Ping) and ping.id == 3


class FakeChannel:
    def __init__(self) -> None:
        self.readyState = "open"
        self.bufferedAmount = 0
        self.sent: list[str] = []

    def send(self, text: str) -> None:
        self.sent.append(text)


def test_events_wait_for_the_channel_then_go_in_order() -> None:
    events = EventChannel()
    events.send({"type": "state", "n": 1})
    events.send({"type": "state", "n": 2})
    channel = FakeChannel()
    events.attach(channel)  # type: ignore[arg-type]
    events.send({"type": "state", "n": 3})
    assert [json.loads(s)["n"] for s in channel.sent] == [1, 2, 3]


def test_held_events_are_bounded() -> None:
    events = EventChannel()
    for n in range(MAX_PENDING_EVENTS + 5):
        events.send({"type": "state", "n": n})
    assert events.dropped == 5


def test_a_peer_that_stops_reading_loses_events_not_memory() -> None:
    events = EventChannel()
    channel = FakeChannel()
    events.attach(channel)  # type: ignore[arg-type]
    channel.bufferedAmount = MAX_BUFFERED_BYTES + 1
    events.send({"type": "state"})
    channel.bufferedAmount = 0
    channel.readyState = "closing"
    events.send({"type": "state"})
    assert channel.sent == [] and events.dropped == 2
