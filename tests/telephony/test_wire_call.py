"""The taken-over media socket without a network: ``WireOutbox`` under a slow peer,
and ``WireCall`` feeding a real ``TwilioMediaStream`` (start, held messages, flood,
stop, disconnect), over a fake socket with fault knobs."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import pytest

from control_plane.voice.runtime import VoiceRuntime
from telephony.admission import StreamAdmission
from telephony.media_stream import StreamLimits, TwilioMediaStream
from telephony.wire import WireSink
from telephony.wire_stream import PENDING_LIMIT, WireCall, WireOutbox
from tests.telephony.support import fake_agent, fake_registry
from tests.telephony.test_media_stream import CALL, STREAM, TOKENS, start_message
from tests.telephony.twilio_rest import ACCOUNT_SID


class FakeWire:
    """A ``WireSocket``: records what was written; ``writable`` (the transport's flow
    control) and ``closing`` (the WebSocket is closing: writes fail) are the knobs."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.writable = True
        self.closing = False
        self.sink: WireSink | None = None
        self.reading_paused = False
        self.pauses = 0
        self.aborted = False

    @property
    def can_write(self) -> bool:
        return self.writable  # as uvicorn's: a peer's close frame does not pause the transport

    def take_over(self, sink: WireSink) -> None:
        assert self.sink is None
        self.sink = sink

    def send_text(self, text: str) -> bool:
        if self.closing:
            return False
        assert self.writable, "wrote to a paused transport"
        self.written.append(text)
        return True

    def pause_reading(self) -> None:
        self.reading_paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading_paused = False

    def abort(self) -> None:
        self.aborted = True


# ---------------------------------------------------------------- WireOutbox


async def test_messages_go_straight_out_in_order_while_the_peer_reads() -> None:
    wire = FakeWire()
    outbox = WireOutbox(wire)
    outbox.send("a", audio=True)
    outbox.send("b")
    assert wire.written == ["a", "b"] and outbox.held == 0


async def test_a_slow_peer_holds_messages_then_drops_audio_never_control() -> None:
    wire = FakeWire()
    outbox = WireOutbox(wire, limit=3)
    wire.writable = False  # the transport paused: the peer is not reading
    for index in range(5):
        outbox.send(f"audio{index}", audio=True)
    outbox.send("control")
    outbox.send("audio-late", audio=True)
    assert wire.written == [] and outbox.dropped == 3
    # Control messages are held past the limit; audio is not.
    wire.writable = True
    outbox.send("control-2")  # still behind what is held: order is kept
    outbox.send("audio-dropped", audio=True)
    assert wire.written == [] and outbox.dropped == 4
    outbox.flush()
    assert wire.written == ["audio0", "audio1", "audio2", "control", "control-2"]
    assert outbox.held == 0
    outbox.send("after", audio=True)
    assert wire.written[-1] == "after"


async def test_flush_stops_when_the_transport_pauses_again() -> None:
    wire = FakeWire()
    outbox = WireOutbox(wire)
    wire.writable = False
    for index in range(4):
        outbox.send(str(index), audio=True)
    wire.writable = True
    original = wire.send_text

    def pause_after_two(text: str) -> bool:
        sent = original(text)
        if len(wire.written) == 2:
            wire.writable = False
        return sent

    wire.send_text = pause_after_two  # type: ignore[method-assign]
    outbox.flush()
    assert wire.written == ["0", "1"] and outbox.held == 2


async def test_clear_drops_held_audio_and_keeps_control() -> None:
    wire = FakeWire()
    outbox = WireOutbox(wire)
    wire.writable = False
    outbox.send("a1", audio=True)
    outbox.send("c1")
    outbox.send("a2", audio=True)
    assert outbox.drop_audio() == 2
    wire.writable = True
    outbox.flush()
    assert wire.written == ["c1"]


async def test_drained_waits_for_the_held_messages_and_close_refuses_new_ones() -> None:
    wire = FakeWire()
    outbox = WireOutbox(wire)
    wire.writable = False
    outbox.send("held")
    outbox.close()
    outbox.send("late")
    waiter = asyncio.create_task(outbox.drained())
    await asyncio.sleep(0)
    assert not waiter.done()
    wire.writable = True
    outbox.flush()
    await asyncio.wait_for(waiter, 1.0)
    assert wire.written == ["held"]


async def test_a_closing_connection_discards_what_is_held() -> None:
    wire = FakeWire()
    outbox = WireOutbox(wire)
    wire.writable = False
    outbox.send("x")
    outbox.send("y")
    wire.writable, wire.closing = True, True
    outbox.flush()
    assert wire.written == [] and outbox.held == 0
    await asyncio.wait_for(outbox.drained(), 1.0)


# ---------------------------------------------------------------- WireCall


def media(payload: bytes = b"\xff" * 160, sid: str = STREAM) -> str:
    encoded = base64.b64encode(payload).decode()
    return json.dumps(
        {"event": "media", "streamSid": sid, "media": {"track": "inbound", "payload": encoded}}
    )


STOP = json.dumps({"event": "stop", "streamSid": STREAM, "stop": {"callSid": CALL}})


@pytest.fixture
async def runtime() -> AsyncIterator[VoiceRuntime]:
    runtime = VoiceRuntime(fake_registry(), {"default": fake_agent()})
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.aclose()


def new_call(runtime: VoiceRuntime, **limits: int) -> tuple[FakeWire, WireCall]:
    wire = FakeWire()
    outbox = WireOutbox(wire)
    admission = StreamAdmission(TOKENS, upgrade_signed=False, account_sid=ACCOUNT_SID)
    stream = TwilioMediaStream(
        runtime, outbox, admission=admission, limits=StreamLimits(**limits) if limits else None
    )
    return wire, WireCall(wire, stream, outbox)


async def test_messages_before_and_during_start_are_held_then_reach_the_stream_in_order(
    runtime: VoiceRuntime,
) -> None:
    wire, call = new_call(runtime)
    starting = asyncio.create_task(call.start(5.0))
    await asyncio.sleep(0)
    assert wire.sink is call  # taken over at once
    # Twilio sends connected, start and media back to back, before start has finished.
    call.on_text('{"event":"connected","protocol":"Call","version":"1.0.0"}')
    call.on_text(start_message())
    for _ in range(3):
        call.on_text(media())
    assert await starting is True
    assert call.stream.identity is not None and call.stream.media_received == 3
    # From now on each message is handled in the socket's own call, synchronously.
    call.on_text(media())
    assert call.stream.media_received == 4
    call.on_text(STOP)
    assert await asyncio.wait_for(call.finished(), 1.0) == (1000, "stopped")
    call.on_text(media())  # after the end: ignored
    assert call.stream.media_received == 4
    await call.stream.aclose()


async def test_reading_pauses_while_start_is_slow_and_resumes_after(
    runtime: VoiceRuntime,
) -> None:
    wire, call = new_call(runtime)
    gate = asyncio.Event()
    resolve = runtime.resolve

    async def slow_resolve(agent_id: str, credential: str | None) -> object:
        await gate.wait()
        return await resolve(agent_id, credential)

    runtime.resolve = slow_resolve  # type: ignore[method-assign,assignment]
    starting = asyncio.create_task(call.start(5.0))
    await asyncio.sleep(0)
    call.on_text(start_message())
    await asyncio.sleep(0.01)  # start is waiting on the agent
    for _ in range(PENDING_LIMIT + 5):
        call.on_text(media())
    assert wire.reading_paused
    gate.set()
    assert await starting is True
    assert not wire.reading_paused
    assert call.stream.media_received == PENDING_LIMIT + 5
    await call.stream.aclose()


async def test_no_start_in_time_ends_with_1008(runtime: VoiceRuntime) -> None:
    _, call = new_call(runtime)
    assert await call.start(0.05) is False
    assert await call.finished() == (1008, "no start message")


async def test_a_flood_after_start_ends_the_call_with_1008(runtime: VoiceRuntime) -> None:
    _, call = new_call(runtime, max_bad_messages=5)
    starting = asyncio.create_task(call.start(5.0))
    await asyncio.sleep(0)
    call.on_text(start_message())
    assert await starting
    for _ in range(5):
        call.on_text("garbage")
    assert call.stream.bad_messages == {"invalid_json": 5}
    call.on_binary(b"\x00")
    assert await asyncio.wait_for(call.finished(), 1.0) == (1008, "too many invalid messages")
    await call.stream.aclose()


async def test_a_flood_before_start_ends_the_call(runtime: VoiceRuntime) -> None:
    _, call = new_call(runtime)
    starting = asyncio.create_task(call.start(5.0))
    await asyncio.sleep(0)
    for _ in range(20):
        call.on_text(media())
    assert await starting is False
    assert await call.finished() == (1008, "no start message")


async def test_the_peer_going_away_ends_the_call_before_or_after_start(
    runtime: VoiceRuntime,
) -> None:
    _, waiting = new_call(runtime)
    starting = asyncio.create_task(waiting.start(5.0))
    await asyncio.sleep(0)
    waiting.on_closed(1006)
    assert await starting is False
    assert await waiting.finished() == (1006, "peer_closed")

    _, streaming = new_call(runtime)
    starting = asyncio.create_task(streaming.start(5.0))
    await asyncio.sleep(0)
    streaming.on_text(start_message(call=CALL))
    assert await starting
    streaming.on_closed(1005)
    streaming.on_text(media())
    assert await streaming.finished() == (1005, "peer_closed")
    assert streaming.stream.media_received == 0
    await streaming.stream.aclose()


async def test_an_error_inside_the_stream_ends_only_that_call_with_1011(
    runtime: VoiceRuntime,
) -> None:
    _, call = new_call(runtime)
    starting = asyncio.create_task(call.start(5.0))
    await asyncio.sleep(0)
    call.on_text(start_message())
    assert await starting

    def broken(text: str) -> None:
        raise RuntimeError("a bug")

    call.stream.receive_streaming = broken  # type: ignore[method-assign]
    call.on_text(media())  # must not raise into the socket's data_received
    assert await call.finished() == (1011, "internal error")
    await call.stream.aclose()


def test_every_uvicorn_hook_the_wire_protocol_overrides_exists_upstream() -> None:
    """An uvicorn upgrade that renames one would silently bypass the take-over."""
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    from telephony.wire import MediaWebSocketProtocol

    overridden = [
        name
        for name, value in vars(MediaWebSocketProtocol).items()
        if callable(value) and not name.startswith("_") and name not in vars(object)
    ]
    own = {"take_over", "send_text", "pause_reading", "resume_reading", "abort"}
    hooks = sorted(set(overridden) - own)
    assert hooks == [
        "connection_lost",
        "handle_close",
        "handle_connect",
        "handle_events",
        "handle_parser_exception",
        "resume_writing",
    ]
    assert all(callable(getattr(WebSocketsSansIOProtocol, name, None)) for name in hooks)
    probe = WebSocketsSansIOProtocol.__init__.__code__.co_names
    for attribute in ("queue", "read_paused", "writable", "conn", "close_sent", "disconnected"):
        assert attribute in probe, attribute
