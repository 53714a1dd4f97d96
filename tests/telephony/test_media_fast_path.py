"""The media fast path (``twilio_media``): it accepts only what the model accepts, with
the same values, and every message it does not take gets the model's outcome, so
bad input keeps its exact code whichever layout it arrives in."""

from __future__ import annotations

import base64
import binascii
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from control_plane.voice.runtime import VoiceRuntime
from telephony.media_stream import StreamState
from telephony.messages import MAX_PAYLOAD_CHARS, Media, inbound_message, twilio_media
from tests.telephony.test_media_stream import STREAM, runtime, started

__all__ = ["runtime"]  # the fixture, shared with test_media_stream

AUDIO = b"\xff" * 160
PAYLOAD = base64.b64encode(AUDIO).decode()


def wire(
    payload: str = PAYLOAD,
    *,
    sid: str = STREAM,
    track: str = "inbound",
    seq: str = "4",
    chunk: str = "3",
    timestamp: str = "60",
) -> str:
    """A media message laid out exactly as Twilio writes it; the values go in raw."""
    return (
        f'{{"event":"media","sequenceNumber":"{seq}","media":{{"track":"{track}",'
        f'"chunk":"{chunk}","timestamp":"{timestamp}","payload":"{payload}"}},'
        f'"streamSid":"{sid}"}}'
    )


def model_view(text: str) -> tuple[str, str, bytes] | None:
    """What the model path makes of ``text``: None when it rejects it (or its payload)."""
    try:
        message = inbound_message.validate_json(text)
    except ValidationError:
        return None
    assert isinstance(message, Media)
    try:
        audio = binascii.a2b_base64(message.media.payload, strict_mode=True)
    except ValueError:
        return None
    return message.streamSid, message.media.track, audio


# ---------------------------------------------------------------- the pure function


def test_twilios_own_layout_takes_the_fast_path_with_the_models_values() -> None:
    text = wire()
    assert twilio_media(text) == (STREAM, "inbound", AUDIO)
    assert twilio_media(text) == model_view(text)
    assert twilio_media(wire(track="outbound")) == (STREAM, "outbound", AUDIO)
    longest = "A" * MAX_PAYLOAD_CHARS  # decodes to 1602 bytes: the stream rejects the size
    assert twilio_media(wire(longest)) == (STREAM, "inbound", bytes(1602))


# Each left to the model (None), and whether the model parses it.
LEFT_TO_THE_MODEL: list[tuple[str, str, bool]] = [
    ("other layout", json.dumps(json.loads(wire())), True),
    (
        "keys reordered",
        wire().replace('"sequenceNumber":"4",', "")[:-1] + ',"sequenceNumber":"4"}',
        True,
    ),
    ("whitespace", wire().replace(",", ", "), True),
    ("trailing newline", wire() + "\n", True),
    ("extra field", wire()[:-1] + ',"tenant":"x"}', True),
    ("missing chunk", wire().replace('"chunk":"3",', ""), True),
    ("number for a string", wire().replace('"chunk":"3"', '"chunk":3'), False),
    ("null chunk", wire().replace('"chunk":"3"', '"chunk":null'), True),
    ("escaped payload", wire(PAYLOAD.replace("/", "\\/")), True),
    ("escaped sid", wire(sid="MZ\\u0062" + "b" * 31), True),
    ("bad base64", wire("not base64!!"), True),
    ("bad padding", wire("/w="), True),
    ("control character in payload", wire(PAYLOAD[:8] + "\x01" + PAYLOAD[9:]), False),
    ("lone surrogate escape", wire(PAYLOAD[:8] + "\\ud800" + PAYLOAD[8:]), False),
    ("non-ASCII payload", wire(PAYLOAD[:8] + "é" + PAYLOAD[9:]), True),
    ("payload too long", wire("A" * (MAX_PAYLOAD_CHARS + 4)), False),
    ("non-ASCII digits", wire(seq="٣"), False),
    ("sequence too long", wire(seq="1" * 21), False),
    ("empty sequence", wire(seq=""), False),
    ("sid too short", wire(sid="M"), False),
    ("sid too long", wire(sid="M" * 65), False),
    ("sid punctuation", wire(sid="MZ-1"), False),
    ("unknown track", wire(track="sideways"), False),
    ("other event", wire().replace('"event":"media"', '"event":"mark"'), False),
    ("truncated", wire()[:-1], False),
    ("huge", wire("A" * 20_000), False),
]


@pytest.mark.parametrize(
    ("text", "model_accepts"),
    [(text, accepts) for _, text, accepts in LEFT_TO_THE_MODEL],
    ids=[name for name, _, _ in LEFT_TO_THE_MODEL],
)
def test_anything_else_is_left_to_the_model(text: str, model_accepts: bool) -> None:
    assert twilio_media(text) is None
    try:
        inbound_message.validate_json(text)
    except ValidationError:
        assert not model_accepts
    else:
        assert model_accepts


# Values spliced raw into Twilio's layout: digits, letters, base64, and the
# characters that could fool a text match (quotes, escapes, braces, controls,
# non-ASCII digits and letters, a lone surrogate).
_ALPHABET = st.sampled_from(
    [
        *"0123456789AZaz+/=",
        '"',
        "\\",
        "}",
        ",",
        ":",
        " ",
        "\x00",
        "\n",
        "\u00e9",
        "\u0663",
        chr(0xD800),
    ]
)
_PIECES = st.text(_ALPHABET, max_size=24)


@settings(max_examples=400, deadline=None)
@given(
    payload=st.one_of(_PIECES, st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())),
    sid=st.one_of(_PIECES, st.just(STREAM)),
    track=st.one_of(_PIECES, st.sampled_from(["inbound", "outbound"])),
    seq=st.one_of(_PIECES, st.integers(0, 10**25).map(str)),
)
def test_what_the_fast_path_takes_the_model_takes_the_same(
    payload: str, sid: str, track: str, seq: str
) -> None:
    text = wire(payload, sid=sid, track=track, seq=seq)
    fast = twilio_media(text)
    if fast is not None:
        assert fast == model_view(text)


# ---------------------------------------------------------------- through the stream

# Twilio's layout with one thing wrong: the exact code each must produce.
WIRE_CORPUS: list[tuple[str, str]] = [
    (wire(sid="MZ" + "0" * 32), "wrong_stream_sid"),
    (wire(track="outbound"), "unexpected_track"),
    (wire(track="sideways"), "invalid_field"),
    (wire(""), "empty_media"),
    (wire("not base64!!"), "bad_base64"),
    (wire(PAYLOAD[:8] + "é" + PAYLOAD[9:]), "bad_base64"),
    (wire("/w="), "bad_base64"),
    (wire("A" * MAX_PAYLOAD_CHARS), "frame_too_large"),
    (wire("A" * (MAX_PAYLOAD_CHARS + 4)), "frame_too_large"),
    (wire("A" * 20_000), "message_too_large"),
    (wire(PAYLOAD[:8] + "\x01" + PAYLOAD[9:]), "invalid_json"),
    (wire(PAYLOAD[:8] + "\\ud800" + PAYLOAD[8:]), "invalid_json"),
    (wire()[:-1], "invalid_json"),
    (wire().replace('"chunk":"3"', '"chunk":3'), "invalid_field"),
    (wire(seq="1" * 21), "invalid_field"),
    (wire(seq="٣"), "invalid_field"),
    (wire(sid='MZ\\"b'), "invalid_field"),
    (wire(sid="M"), "invalid_field"),
    (wire().replace('"streamSid":"' + STREAM + '"', '"sid":"x"'), "missing_field"),
    (wire().replace('"payload":"' + PAYLOAD + '"', '"data":"x"'), "missing_field"),
]


@pytest.mark.parametrize(("message", "code"), WIRE_CORPUS)
async def test_each_malformed_wire_message_is_counted_and_the_call_continues(
    runtime: VoiceRuntime, message: str, code: str
) -> None:
    stream, *_ = await started(runtime)
    stream.receive_streaming(message)
    assert stream.bad_messages == {code: 1}
    assert stream.media_received == 0
    stream.receive_streaming(wire())
    assert stream.media_received == 1 and stream.state is StreamState.STREAMING
    assert stream.bad_messages == {code: 1}
    assert len(runtime.sessions) == 1
    await stream.aclose()


@pytest.mark.parametrize(
    "message",
    [
        wire(),
        json.dumps(json.loads(wire())),  # the model's path
        wire()[:-1] + ',"tenant":"x"}',  # a field Twilio may add: the model's path
        wire(PAYLOAD.replace("/", "\\/")),  # a JSON escape: the model's path
    ],
)
async def test_good_media_is_taken_whichever_path_it_goes(
    runtime: VoiceRuntime, message: str
) -> None:
    stream, *_ = await started(runtime)
    for _ in range(3):
        stream.receive_streaming(message)
    assert stream.bad_messages == {}
    assert stream.media_received == 3
    await stream.aclose()


async def test_fast_path_media_before_start_is_still_refused(runtime: VoiceRuntime) -> None:
    from tests.telephony.test_media_stream import make_stream

    stream, *_ = make_stream(runtime)
    await stream.receive_text(wire())
    assert stream.bad_messages == {"media_before_start": 1}
    with pytest.raises(RuntimeError):
        stream.receive_streaming(wire())
