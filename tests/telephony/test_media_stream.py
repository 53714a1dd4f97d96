"""The Media Streams call, driven message by message without a socket: admission,
the malformed-message corpus with the exact outcome of each, floods, outbound marks."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from control_plane.voice.runtime import VoiceRuntime
from media.codecs.g711 import ulaw_decode
from pipelines.events import AgentAudioDone, AgentInterrupted
from telephony.admission import StreamAdmission
from telephony.errors import StreamClosed
from telephony.media_stream import StreamLimits, StreamState, TwilioMediaStream
from telephony.tokens import StreamTokens
from tests.telephony.support import AGENT_NUMBER, directory, fake_agent, fake_registry
from tests.telephony.twilio_rest import ACCOUNT_SID

CALL = "CA" + "a" * 32
STREAM = "MZ" + "b" * 32
TOKENS = StreamTokens(b"k" * 32)


class ListOutbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bool]] = []

    def send(self, text: str, *, audio: bool = False) -> None:
        self.sent.append((text, audio))

    def drop_audio(self) -> int:
        return 0

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text, _ in self.sent]


class RecordingActions:
    def __init__(self) -> None:
        self.done: list[tuple[str, str | None]] = []

    def transfer(self, call_sid: str, number: str) -> None:
        self.done.append(("transfer", number))

    def hang_up(self, call_sid: str) -> None:
        self.done.append(("hangup", None))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def start_message(
    *, token: str | None = None, account: str = ACCOUNT_SID, call: str = CALL, **params: str
) -> str:
    custom = {"agent": "default", "number": AGENT_NUMBER, **params}
    custom["token"] = token if token is not None else TOKENS.mint(call, "default", AGENT_NUMBER)
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": STREAM,
            "start": {
                "accountSid": account,
                "streamSid": STREAM,
                "callSid": call,
                "tracks": ["inbound"],
                "customParameters": custom,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


def media(payload: bytes | str = b"\xff" * 160, sid: str = STREAM, track: str = "inbound") -> str:
    text = payload if isinstance(payload, str) else base64.b64encode(payload).decode()
    return json.dumps(
        {"event": "media", "streamSid": sid, "media": {"track": track, "payload": text}}
    )


def mark(name: str, sid: str = STREAM) -> str:
    return json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": name}})


def dtmf(digit: str) -> str:
    return json.dumps({"event": "dtmf", "streamSid": STREAM, "dtmf": {"digit": digit}})


@pytest.fixture
async def runtime() -> AsyncIterator[VoiceRuntime]:
    runtime = VoiceRuntime(fake_registry(), {"default": fake_agent()})
    yield runtime
    await runtime.aclose()


Parts = tuple[TwilioMediaStream, ListOutbox, RecordingActions, Clock]


def make_stream(
    runtime: VoiceRuntime, *, signed: bool = False, limits: StreamLimits | None = None
) -> Parts:
    outbox, actions, clock = ListOutbox(), RecordingActions(), Clock()
    stream = TwilioMediaStream(
        runtime,
        outbox,
        admission=StreamAdmission(TOKENS, upgrade_signed=signed, account_sid=ACCOUNT_SID),
        directory=directory(),
        actions=actions,
        limits=limits,
        clock=clock,
    )
    return stream, outbox, actions, clock


async def started(
    runtime: VoiceRuntime,
) -> tuple[TwilioMediaStream, ListOutbox, RecordingActions, Clock]:
    parts = make_stream(runtime)
    stream = parts[0]
    await stream.receive_text('{"event":"connected","protocol":"Call","version":"1.0.0"}')
    await stream.receive_text(start_message())
    assert stream.state is StreamState.STREAMING
    return parts


# ---------------------------------------------------------------- admission


async def test_a_valid_token_opens_a_session_for_the_call(runtime: VoiceRuntime) -> None:
    stream, *_ = await started(runtime)
    assert stream.identity is not None and stream.identity.call_sid == CALL
    assert runtime.sessions.keys() == {f"twilio-{STREAM}"}
    assert stream.route is not None and stream.route.transfer_to
    await stream.aclose()
    assert not runtime.sessions


async def test_a_signed_upgrade_needs_no_token(runtime: VoiceRuntime) -> None:
    stream, *_ = make_stream(runtime, signed=True)
    await stream.receive_text(start_message(token=""))
    assert stream.state is StreamState.STREAMING
    await stream.aclose()


@pytest.mark.parametrize(
    ("start", "reason"),
    [
        (start_message(token=""), "neither a valid signature"),
        (start_message(token="v1.99999999999.forged"), "neither a valid signature"),
        # A token minted for another call, agent or number is worthless here.
        (start_message(token=TOKENS.mint("CA" + "c" * 32, "default", AGENT_NUMBER)), "neither"),
        (start_message(token=TOKENS.mint(CALL, "other", AGENT_NUMBER)), "neither"),
        (start_message(token=TOKENS.mint(CALL, "default", "+15550009999")), "neither"),
        (start_message(account="AC" + "9" * 32), "another account"),
        (start_message(agent=""), "no agent"),
    ],
)
async def test_a_stream_without_proof_is_closed_before_any_session(
    runtime: VoiceRuntime, start: str, reason: str
) -> None:
    stream, *_ = make_stream(runtime)
    with pytest.raises(StreamClosed) as closed:
        await stream.receive_text(start)
    assert closed.value.code == 1008 and reason in closed.value.reason
    assert not runtime.sessions


async def test_an_expired_token_is_refused(runtime: VoiceRuntime) -> None:
    now = [1000.0]
    tokens = StreamTokens(b"k" * 32, ttl_secs=60, clock=lambda: now[0])
    token = tokens.mint(CALL, "default", AGENT_NUMBER)
    admission = StreamAdmission(tokens, upgrade_signed=False)
    stream = TwilioMediaStream(runtime, ListOutbox(), admission=admission, clock=Clock())
    now[0] += 61
    with pytest.raises(StreamClosed):
        await stream.receive_text(start_message(token=token))


async def test_an_unknown_agent_closes_the_stream(runtime: VoiceRuntime) -> None:
    tokens_for_ghost = TOKENS.mint(CALL, "ghost", AGENT_NUMBER)
    stream, *_ = make_stream(runtime)
    with pytest.raises(StreamClosed, match="unknown agent"):
        await stream.receive_text(start_message(token=tokens_for_ghost, agent="ghost"))


async def test_a_socket_that_never_starts_is_closed(runtime: VoiceRuntime) -> None:
    stream, *_ = make_stream(runtime)
    connected = '{"event":"connected","protocol":"Call","version":"1.0.0"}'
    with pytest.raises(StreamClosed, match="no start"):
        for _ in range(StreamLimits().max_messages_before_start + 1):
            await stream.receive_text(connected)


# ---------------------------------------------------------------- malformed corpus

TOO_LONG_PAYLOAD = "A" * 4000
CORPUS: list[tuple[str | bytes, str]] = [
    ("not json", "invalid_json"),
    ('{"event": "media"', "invalid_json"),
    ("[1, 2]", "not_an_object"),
    ('"media"', "not_an_object"),
    ('{"streamSid": "' + STREAM + '"}', "missing_field"),
    ('{"event": "dance", "streamSid": "' + STREAM + '"}', "unknown_event"),
    ('{"event": 5}', "unknown_event"),
    ('{"event": "media", "streamSid": "' + STREAM + '", "media": {}}', "missing_field"),
    ('{"event": "media", "media": {"payload": "/w=="}}', "missing_field"),
    (media(sid='MZ"bad'), "invalid_field"),
    (media("not base64!!"), "bad_base64"),
    (media("/w="), "bad_base64"),
    (media(""), "empty_media"),
    (media(TOO_LONG_PAYLOAD), "frame_too_large"),
    (media(sid="MZ" + "0" * 32), "wrong_stream_sid"),
    (media(track="outbound"), "unexpected_track"),
    (media(track="sideways"), "invalid_field"),
    ("x" * 20_000, "message_too_large"),
    (b"\x00\x01binary", "binary_frame"),
    (
        json.dumps({"event": "dtmf", "streamSid": STREAM, "dtmf": {"digit": "x"}}),
        "invalid_field",
    ),
    (
        json.dumps({"event": "mark", "streamSid": STREAM, "mark": {"name": "cap-99"}}),
        "unknown_mark",
    ),
    (json.dumps({"event": "mark", "streamSid": STREAM, "mark": {"name": "hers"}}), "unknown_mark"),
    (
        json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": "cap-0"}}),
        "wrong_stream_sid",
    ),
    (json.dumps({"event": "stop", "streamSid": "MZ1"}), "wrong_stream_sid"),
    (start_message(), "duplicate_start"),
    ('{"event":"connected","protocol":"Call","version":"1.0.0"}', "unexpected_connected"),
]


@pytest.mark.parametrize(("message", "code"), CORPUS)
async def test_each_malformed_message_is_counted_and_the_call_continues(
    runtime: VoiceRuntime, message: str | bytes, code: str
) -> None:
    stream, *_ = await started(runtime)
    if isinstance(message, bytes):
        stream.receive_binary(message)
    else:
        await stream.receive_text(message)
    assert stream.bad_messages == {code: 1}
    # The call goes on: the next good frame is taken, the session is still there.
    await stream.receive_text(media())
    assert stream.media_received == 1 and stream.state is StreamState.STREAMING
    assert stream.bad_messages == {code: 1}
    assert len(runtime.sessions) == 1
    await stream.aclose()


@pytest.mark.parametrize(("message", "code"), [c for c in CORPUS if isinstance(c[0], str)])
async def test_the_synchronous_entry_rejects_the_corpus_the_same_way(
    runtime: VoiceRuntime, message: str, code: str
) -> None:
    stream, *_ = await started(runtime)
    stream.receive_streaming(message)
    assert stream.bad_messages == {code: 1}
    stream.receive_streaming(media())
    assert stream.media_received == 1 and stream.state is StreamState.STREAMING
    assert stream.bad_messages == {code: 1}
    await stream.aclose()


async def test_the_synchronous_entry_closes_on_a_flood_and_refuses_before_start(
    runtime: VoiceRuntime,
) -> None:
    fresh, *_ = make_stream(runtime)
    with pytest.raises(RuntimeError):
        fresh.receive_streaming(media())
    stream, *_ = await started(runtime)
    for _ in range(StreamLimits().max_bad_messages):
        stream.receive_streaming("garbage")
    with pytest.raises(StreamClosed) as closed:
        stream.receive_streaming("garbage")
    assert closed.value.code == 1008
    await stream.aclose()


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (media(), "media_before_start"),
        (
            json.dumps({"event": "dtmf", "streamSid": STREAM, "dtmf": {"digit": "1"}}),
            "before_start",
        ),
        ("not json", "invalid_json"),
    ],
)
async def test_messages_before_start_are_rejected(
    runtime: VoiceRuntime, message: str, code: str
) -> None:
    stream, *_ = make_stream(runtime)
    await stream.receive_text(message)
    assert stream.bad_messages == {code: 1}
    await stream.receive_text(start_message())
    assert stream.state is StreamState.STREAMING
    await stream.aclose()


async def test_a_flood_of_garbage_closes_only_that_stream(runtime: VoiceRuntime) -> None:
    flooded, *_ = await started(runtime)
    other = TwilioMediaStream(
        runtime,
        ListOutbox(),
        admission=StreamAdmission(TOKENS, upgrade_signed=True),
        clock=Clock(),
    )
    await other.receive_text(start_message(call="CA" + "d" * 32).replace(STREAM, "MZ" + "e" * 32))
    limit = StreamLimits().max_bad_messages
    for _ in range(limit):
        await flooded.receive_text("garbage")
    with pytest.raises(StreamClosed) as closed:
        await flooded.receive_text("garbage")
    assert closed.value.code == 1008
    await flooded.aclose("too many invalid messages")
    await other.receive_text(media(sid="MZ" + "e" * 32))
    assert other.media_received == 1 and len(runtime.sessions) == 1
    await other.aclose()


async def test_occasional_bad_messages_spread_over_time_never_close(runtime: VoiceRuntime) -> None:
    stream, _, _, clock = await started(runtime)
    limits = StreamLimits()
    for _ in range(limits.max_bad_messages * 3):
        clock.now += limits.bad_window_secs / limits.max_bad_messages * 1.5
        await stream.receive_text("garbage")
    assert stream.bad_messages == {"invalid_json": limits.max_bad_messages * 3}
    await stream.aclose()


async def test_messages_after_a_stop_before_start_are_rejected(runtime: VoiceRuntime) -> None:
    stream, *_ = make_stream(runtime)
    await stream.receive_text(json.dumps({"event": "stop", "streamSid": STREAM}))
    assert stream.state is StreamState.STOPPED
    await stream.receive_text(media())
    stream.receive_streaming(mark("cap-0"))
    assert stream.bad_messages == {"before_start": 2}
    assert stream.media_received == 0 and not runtime.sessions
    await stream.aclose()


async def test_stop_ends_the_stream(runtime: VoiceRuntime) -> None:
    stream, *_ = await started(runtime)
    await stream.receive_text(json.dumps({"event": "stop", "streamSid": STREAM, "stop": {}}))
    assert stream.state is StreamState.STOPPED and not stream.open
    await stream.aclose()


# ---------------------------------------------------------------- keypad


async def test_keypad_rules_transfer_hang_up_or_tell_the_agent(runtime: VoiceRuntime) -> None:
    stream, _, actions, _ = await started(runtime)
    for digit in "095":
        await stream.receive_text(
            json.dumps({"event": "dtmf", "streamSid": STREAM, "dtmf": {"digit": digit}})
        )
    assert actions.done == [("transfer", "+15559990000"), ("hangup", None)]
    assert stream.digits == ["0", "9", "5"]
    session = runtime.sessions[f"twilio-{STREAM}"]
    for _ in range(20):  # the reply task records the user's turn when it starts
        if session.history:
            break
        await asyncio.sleep(0)
    assert [m.content for m in session.history if m.role == "user"] == ["[keypad] 5"]
    await stream.aclose()


# ---------------------------------------------------------------- outbound


async def test_agent_audio_goes_out_as_mulaw_with_a_mark_every_five_frames(
    runtime: VoiceRuntime,
) -> None:
    from media.frames import AudioFrame

    stream, outbox, _, _ = await started(runtime)
    for _ in range(12):
        stream._on_agent_audio(AudioFrame(b"\x10\x00" * 320))
    stream._on_event(AgentAudioDone(turn_id=1))
    kinds = [(e["event"], e.get("mark", {}).get("name")) for e in outbox.events()]
    marks = [name for kind, name in kinds if kind == "mark"]
    assert marks == ["cap-0", "cap-1", "cap-2"]  # after frames 5 and 10, and the tail of 2
    # 12 frames, then the resampler's tail (the filter's delay), then the last mark.
    assert [k for k, _ in kinds].count("media") == 13
    assert [k for k, _ in kinds][-2:] == ["media", "mark"]
    assert all(audio for _, audio in outbox.sent)
    assert stream.tracker.lag == 12 * 320
    for name in marks[:2]:
        await stream.receive_text(
            json.dumps({"event": "mark", "streamSid": STREAM, "mark": {"name": name}})
        )
    assert stream.tracker.lag == 2 * 320
    await stream.aclose()


async def test_a_reply_goes_out_whole_when_the_agent_audio_ends(runtime: VoiceRuntime) -> None:
    """Each reply's samples on the wire are its audio converted to 8 kHz (behind
    the filter's lead-in): none of its end waits in the resampler for the next."""
    from media.frames import AudioFrame
    from media.resample import StreamResampler

    stream, outbox, _, _ = await started(runtime)
    delay = StreamResampler(16000, 8000).delay_samples
    for reply, frames in enumerate((9, 4)):
        outbox.sent.clear()
        for k in range(frames):
            level = 3000 + 500 * k + 50 * reply
            stream._on_agent_audio(AudioFrame(level.to_bytes(2, "little", signed=True) * 320))
        stream._on_event(AgentAudioDone(turn_id=reply + 1))
        payloads = [e["media"]["payload"] for e in outbox.events() if e["event"] == "media"]
        wire = b"".join(base64.b64decode(p) for p in payloads)
        assert abs(len(wire) - (frames * 160 + delay)) <= 1
        # The reply's last level is reached at its end, not cut short before it.
        end = np.frombuffer(ulaw_decode(wire[-delay - 20 : -delay]), "<i2")
        assert np.abs(end - (3000 + 500 * (frames - 1) + 50 * reply)).max() < 200
    await stream.aclose()


async def test_an_interruption_clears_at_once_and_forgets_what_was_in_flight(
    runtime: VoiceRuntime,
) -> None:
    from media.frames import AudioFrame

    stream, outbox, _, _ = await started(runtime)
    for _ in range(7):
        stream._on_agent_audio(AudioFrame(b"\x10\x00" * 320))
    stream._on_event(AgentInterrupted(turn_id=1, heard_text="", played_ms=0))
    last_text, last_audio = outbox.sent[-1]
    assert json.loads(last_text) == {"event": "clear", "streamSid": STREAM} and not last_audio
    assert stream.tracker.lag == 0 and stream.clears == 1
    # Twilio echoes the pending mark after a clear: stale, not an error.
    await stream.receive_text(
        json.dumps({"event": "mark", "streamSid": STREAM, "mark": {"name": "cap-0"}})
    )
    assert stream.bad_messages == {}
    await stream.aclose()
