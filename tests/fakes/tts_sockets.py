"""Fake input-streaming TTS sockets: ElevenLabs ``stream-input`` and Deepgram ``/v1/speak``.

Shapes from the providers' public WebSocket docs (see the adapters'
docstrings). Audio is ``encode_text`` speech, so a test decodes exactly which
characters were voiced. Knobs (``FaultKnobs`` plus the fake's own):

- ``hang``: the handshake is never answered;
- ``error_status``: the handshake is refused with that HTTP status and the
  provider's REST error body;
- ``latency``: seconds before the first audio of a socket (not the handshake,
  so a socket's first audio comes ``latency`` after the text, as over HTTP);
- ``token_interval``: seconds between audio messages;
- ``disconnect_after``: drop the TCP connection after that many audio messages;
- ``stream_error_after`` (on the fake): send the provider's in-band error
  message after that many audio messages, then close;
- ``stall_after`` (on the fake): stop sending audio after that many audio
  messages, socket left open (a hang mid-stream);
- ``alignment_knobs(fake)``: ElevenLabs' per-message character timings
  (real, null, absent, malformed) and Deepgram's ``Flushed`` numbering.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import WSMsgType, web

from tests.fakes.audio import encode_text, samples_per_char
from tests.fakes.server import FakeServer, RecordedRequest, drop_connection

if TYPE_CHECKING:
    from tests.fakes.deepgram_server import DeepgramFake
    from tests.fakes.elevenlabs_server import ElevenLabsFake

DEFAULT_SCHEDULE = (120, 160, 250, 290)
DEEPGRAM_MAX_FLUSHES = 20
DEEPGRAM_MAX_SPEAK_CHARS = 2000
_PCM = re.compile(r"pcm_(\d+)")

# Extra JSON fields for the audio message holding bytes [start, end) of a piece.
Fields = Callable[[int, int], dict[str, Any]]
Send = Callable[[bytes, dict[str, Any] | None], Awaitable[None]]


class AudioPump:
    """Sends generated audio in order, paced by the knobs, in its own task.

    ``clear()`` drops queued and in-progress audio (a new generation number),
    so nothing generated before it is sent after it.
    """

    def __init__(
        self,
        fake: FakeServer,
        request: web.Request,
        ws: web.WebSocketResponse,
        rec: RecordedRequest,
        send_audio: Send,
    ) -> None:
        self.fake = fake
        self.request = request
        self.ws = ws
        self.rec = rec
        self.send_audio = send_audio
        self.jobs: asyncio.Queue[tuple[int, bytes | None, Any, Fields | None]] = asyncio.Queue()
        self.generation = 0
        self.sent = 0
        self.chunk_bytes = 3200
        self.stream_error_after: int | None = None
        self.stall_after: int | None = None
        self.on_stream_error: Callable[[], Awaitable[None]] | None = None
        self.dropped = False
        self.idle = asyncio.Event()
        self.idle.set()

    def audio(self, pcm: bytes, fields: Fields | None = None) -> None:
        """Queue ``pcm``; each of its messages gets ``fields(start, end)`` too."""
        self.idle.clear()
        self.jobs.put_nowait((self.generation, pcm, None, fields))

    def then(self, message: Any) -> None:
        """Send JSON ``message`` (or run an awaitable factory) after the queued audio."""
        self.idle.clear()
        self.jobs.put_nowait((self.generation, None, message, None))

    def clear(self) -> None:
        self.generation += 1

    async def run(self) -> None:
        knobs = self.fake.knobs
        first = True
        while True:
            if self.jobs.empty():
                self.idle.set()
            generation, pcm, message, fields = await self.jobs.get()
            if generation != self.generation:
                continue
            if message is not None:
                if callable(message):
                    await message()
                else:
                    await self.ws.send_str(json.dumps(message))
                continue
            assert pcm is not None
            for start in range(0, len(pcm), self.chunk_bytes):
                if generation != self.generation:
                    break
                if first and knobs.latency > 0:
                    await asyncio.sleep(knobs.latency)
                if not first and knobs.token_interval > 0:
                    await asyncio.sleep(knobs.token_interval)
                first = False
                if generation != self.generation:
                    break
                if knobs.disconnect_after is not None and self.sent >= knobs.disconnect_after:
                    self.dropped = True
                    drop_connection(self.request)
                    return
                if self.stream_error_after is not None and self.sent >= self.stream_error_after:
                    if self.on_stream_error is not None:
                        await self.on_stream_error()
                    return
                if self.stall_after is not None and self.sent >= self.stall_after:
                    await asyncio.Event().wait()  # until the client goes away
                self.rec.mark_first_byte()
                end = start + self.chunk_bytes
                await self.send_audio(pcm[start:end], fields(start, end) if fields else None)
                self.sent += 1


async def _run_socket(
    pump: AudioPump, receive: Callable[[], Awaitable[None]], ws: web.WebSocketResponse
) -> None:
    """Read until the client ends its input, then until the pump has sent it all.

    One task reads the socket from start to end (never cancelled mid-read), so
    a client that closes first always gets its close answered.
    """
    loop = asyncio.get_running_loop()
    sender = loop.create_task(pump.run())
    input_done = asyncio.Event()

    async def read() -> None:
        await receive()
        input_done.set()
        async for _ in ws:
            pass  # anything after the end of input is ignored

    reader = loop.create_task(read())
    waiters: set[asyncio.Future[Any]] = set()
    try:
        ended = asyncio.ensure_future(input_done.wait())
        waiters.add(ended)
        await asyncio.wait({sender, reader, ended}, return_when=asyncio.FIRST_COMPLETED)
        if input_done.is_set() and not reader.done() and not sender.done():
            idle = asyncio.ensure_future(pump.idle.wait())
            waiters.add(idle)
            await asyncio.wait({sender, reader, idle}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        # Stop the pump between messages, not in the middle of writing one.
        pump.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pump.idle.wait(), 1.0)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        await ws.close()  # wakes the reader if it is still waiting
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(reader, 1.0)


async def _before_handshake(fake: FakeServer) -> None:
    """``hang`` applies to the handshake; ``latency`` to the first audio (``AudioPump``)."""
    if fake.knobs.hang:
        await fake.before_first_byte()


# ---------------------------------------------------------------- alignment knobs


@dataclass
class AlignmentKnobs:
    """What a fake socket says about the text its audio voices (``alignment_knobs``).

    ElevenLabs: ``mode`` "real" sends ``alignment`` and ``normalizedAlignment``
    with every audio message (its characters, times from the message's first
    sample); "null" sends both as null; "normalized" nulls only ``alignment``;
    "absent" leaves both keys out. ``null_every``: every n-th audio message has
    null alignment (a gap). ``malformed`` ("lengths", "negative", "missing")
    spoils the alignment of audio message ``malformed_at`` (0-based).
    Deepgram: ``sequence_offset`` is added to every ``Flushed`` ``sequence_id``.
    """

    mode: Literal["real", "null", "normalized", "absent"] = "real"
    null_every: int | None = None
    malformed: Literal["lengths", "negative", "missing"] | None = None
    malformed_at: int = 0
    sequence_offset: int = 0


_ALIGNMENT_KNOBS: weakref.WeakKeyDictionary[FakeServer, AlignmentKnobs] = (
    weakref.WeakKeyDictionary()
)


def alignment_knobs(fake: FakeServer) -> AlignmentKnobs:
    """The alignment knobs of ``fake``'s sockets (set them before a socket opens)."""
    knobs = _ALIGNMENT_KNOBS.get(fake)
    if knobs is None:
        knobs = _ALIGNMENT_KNOBS[fake] = AlignmentKnobs()
    return knobs


def _alignment_of(
    text: str, start: int, end: int, rate: int, chars_per_second: float
) -> dict[str, list[Any]]:
    """The characters whose audio starts in bytes [start, end) of ``encode_text(text)``,
    with start times and durations in whole ms from the message's first sample."""
    per = samples_per_char(rate, chars_per_second)
    first, last = start / 2, end / 2
    chars: list[str] = []
    starts: list[int] = []
    for i, char in enumerate(text):
        at = i * per
        if first <= at < last:
            chars.append(char)
            starts.append(round((at - first) * 1000 / rate))
    return {
        "chars": chars,
        "charStartTimesMs": starts,
        "charDurationsMs": [round(per * 1000 / rate)] * len(chars),
    }


def _prepend_space(alignment: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {
        "chars": [" ", *alignment["chars"]],
        "charStartTimesMs": [0, *alignment["charStartTimesMs"]],
        "charDurationsMs": [0, *alignment["charDurationsMs"]],
    }


def _alignment_fields(
    alignment: dict[str, list[Any]], knobs: AlignmentKnobs, number: int
) -> dict[str, Any]:
    if knobs.mode == "absent":
        return {}
    if knobs.mode == "null" or (knobs.null_every and number % knobs.null_every == 0):
        return {"normalizedAlignment": None, "alignment": None}
    value: dict[str, Any] = dict(alignment)
    if knobs.malformed is not None and number == knobs.malformed_at:
        if knobs.malformed == "lengths":
            value["charDurationsMs"] = value["charDurationsMs"][:-1]
        elif knobs.malformed == "negative":
            value["charStartTimesMs"] = [-40, *value["charStartTimesMs"][1:]]
        else:
            del value["charDurationsMs"]
    if knobs.mode == "normalized":
        return {"normalizedAlignment": value, "alignment": None}
    return {"normalizedAlignment": value, "alignment": value}


# ---------------------------------------------------------------- ElevenLabs


async def elevenlabs_stream_input(fake: ElevenLabsFake, request: web.Request) -> web.StreamResponse:
    from tests.fakes.elevenlabs_server import error_response

    rec = await fake.record(request)
    await _before_handshake(fake)
    header_key = request.headers.get("xi-api-key")
    if header_key is not None and header_key != fake.api_key:
        return error_response(401)
    if fake.knobs.error_status is not None:
        return error_response(fake.knobs.error_status)
    if request.match_info["voice_id"] not in fake.voices:
        return error_response(404)
    match = _PCM.fullmatch(request.query.get("output_format", "mp3_44100_128"))
    if match is None:
        return error_response(400, "This fake only serves pcm_* output formats.")
    rate = int(match.group(1))
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    fake.open_sockets += 1
    session = _ElevenLabsSession(
        fake=fake, request=request, ws=ws, rec=rec, rate=rate, authed=header_key is not None
    )
    try:
        await _run_socket(session.pump, session.receive, ws)
    finally:
        fake.open_sockets -= 1
        await ws.close()
    return ws


class _ElevenLabsSession:
    def __init__(
        self,
        *,
        fake: ElevenLabsFake,
        request: web.Request,
        ws: web.WebSocketResponse,
        rec: RecordedRequest,
        rate: int,
        authed: bool,
    ) -> None:
        self.fake = fake
        self.ws = ws
        self.rec = rec
        self.rate = rate
        self.authed = authed
        self.buffer = ""
        self.schedule = list(DEFAULT_SCHEDULE)
        self.step = 0
        self.started = False
        self.generated = False
        self.audio_messages = 0
        self.knobs = alignment_knobs(fake)
        self.pump = AudioPump(fake, request, ws, rec, self._send_audio)
        self.pump.chunk_bytes = fake.chunk_bytes
        self.pump.stream_error_after = fake.stream_error_after
        self.pump.stall_after = fake.stall_after
        self.pump.on_stream_error = lambda: self._fail("internal_error", "Internal server error.")

    async def _send_audio(self, pcm: bytes, extra: dict[str, Any] | None) -> None:
        message = {"audio": base64.b64encode(pcm).decode(), "isFinal": None, **(extra or {})}
        await self.ws.send_str(json.dumps(message))

    async def _fail(self, error: str, message: str, code: int = 1008) -> None:
        await self.ws.send_str(json.dumps({"message": message, "error": error, "code": code}))
        await self.ws.close(code=code, message=message.encode())

    async def _final(self) -> None:
        # The handler closes the socket once the pump is idle.
        await self.ws.send_str(json.dumps({"isFinal": True}))

    def _generate(self, text: str) -> None:
        if not text.strip():
            return
        pcm = encode_text(text, self.rate, self.fake.chars_per_second)
        leading = not self.generated  # Flash models open an utterance with a space
        self.generated = True

        def fields(start: int, end: int) -> dict[str, Any]:
            number, self.audio_messages = self.audio_messages, self.audio_messages + 1
            alignment = _alignment_of(text, start, end, self.rate, self.fake.chars_per_second)
            if leading and start == 0:
                alignment = _prepend_space(alignment)
            return _alignment_fields(alignment, self.knobs, number)

        self.pump.audio(pcm, fields)

    def _release(self, everything: bool) -> None:
        while self.buffer:
            threshold = self.schedule[min(self.step, len(self.schedule) - 1)]
            if not everything and len(self.buffer) < threshold:
                return
            cut = len(self.buffer)
            if not everything:
                space = self.buffer.rfind(" ")
                cut = space + 1 if space > 0 else cut
            text, self.buffer = self.buffer[:cut], self.buffer[cut:]
            self.step += 1
            self._generate(text)

    async def receive(self) -> None:
        async for msg in self.ws:
            if msg.type is not WSMsgType.TEXT:
                await self._fail("invalid_request", "Expected a text message.")
                return
            try:
                body = json.loads(msg.data)
            except ValueError:
                await self._fail("invalid_request", "Invalid JSON.")
                return
            text = body.get("text") if isinstance(body, dict) else None
            if not isinstance(text, str):
                await self._fail("invalid_request", "Field 'text' is required.")
                return
            self.rec.messages.append(body)
            if not self.started:
                self.started = True
                if not await self._start(body):
                    return
                continue
            if text == "":
                self._release(everything=True)
                self.pump.then(self._final)
                return
            self.rec.marks.append(("in:text", time.perf_counter()))
            self.buffer += text
            self._release(everything=bool(body.get("flush")))

    async def _start(self, body: dict[str, Any]) -> bool:
        if not self.authed and body.get("xi_api_key") != self.fake.api_key:
            await self._fail("invalid_api_key", "Invalid API key")
            return False
        config = body.get("generation_config")
        schedule = config.get("chunk_length_schedule") if isinstance(config, dict) else None
        if schedule is not None:
            if not (
                isinstance(schedule, list)
                and schedule
                and all(isinstance(n, int) and 50 <= n <= 500 for n in schedule)
            ):
                await self._fail("invalid_request", "chunk_length_schedule out of range.")
                return False
            self.schedule = schedule
        return True


# ---------------------------------------------------------------- Deepgram


async def deepgram_speak_socket(fake: DeepgramFake, request: web.Request) -> web.StreamResponse:
    from tests.fakes.deepgram_server import rest_error

    rec = await fake.record(request)
    await _before_handshake(fake)
    if request.headers.get("Authorization") != f"Token {fake.api_key}":
        return rest_error(401)
    if fake.knobs.error_status is not None:
        return rest_error(fake.knobs.error_status)
    if request.query.get("encoding", "linear16") != "linear16":
        return rest_error(400, "This fake only serves encoding=linear16.")
    rate = int(request.query.get("sample_rate", "24000"))
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    fake.open_sockets += 1
    session = _SpeakSession(fake, request, ws, rec, rate)
    try:
        await ws.send_str(json.dumps(session.metadata()))
        await _run_socket(session.pump, session.receive, ws)
    finally:
        fake.open_sockets -= 1
        await ws.close()
    return ws


class _SpeakSession:
    def __init__(
        self,
        fake: DeepgramFake,
        request: web.Request,
        ws: web.WebSocketResponse,
        rec: RecordedRequest,
        rate: int,
    ) -> None:
        self.fake = fake
        self.ws = ws
        self.rec = rec
        self.rate = rate
        self.buffer = ""
        self.flushes = 0
        self.clears = 0
        self.pump = AudioPump(fake, request, ws, rec, self._send_audio)
        self.pump.chunk_bytes = fake.chunk_bytes
        self.pump.stream_error_after = fake.stream_error_after
        self.pump.stall_after = fake.stall_after
        self.pump.on_stream_error = self._stream_error

    async def _send_audio(self, pcm: bytes, extra: dict[str, Any] | None) -> None:
        await self.ws.send_bytes(pcm)

    def metadata(self) -> dict[str, Any]:
        return {
            "type": "Metadata",
            "request_id": "00000000-0000-4000-8000-000000000000",
            "model_name": self.rec.query.get("model", "aura-2-thalia-en"),
            "model_version": "2025-01-01.0",
            "model_uuid": "00000000-0000-4000-8000-000000000001",
        }

    async def _stream_error(self) -> None:
        body = {"type": "Error", "err_code": "INTERNAL_SERVER_ERROR", "err_msg": "Internal error."}
        await self.ws.send_str(json.dumps(body))
        await self.ws.close(code=1011, message=b"INTERNAL_SERVER_ERROR")

    async def receive(self) -> None:
        async for msg in self.ws:
            if msg.type is not WSMsgType.TEXT:
                await self.ws.close(code=1008, message=b"DATA-0000")
                return
            try:
                body = json.loads(msg.data)
            except ValueError:
                body = None
            kind = body.get("type") if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(kind, str):
                await self.ws.close(code=1008, message=b"DATA-0000")
                return
            self.rec.messages.append(body)
            self.rec.marks.append((f"in:{kind}", time.perf_counter()))
            if kind == "Speak":
                text = body.get("text")
                if not isinstance(text, str) or len(text) > DEEPGRAM_MAX_SPEAK_CHARS:
                    await self.ws.close(code=1008, message=b"DATA-0000")
                    return
                self.buffer += text
            elif kind == "Flush":
                self._flush()
            elif kind == "Clear":
                self.buffer = ""
                self.pump.clear()
                await self.ws.send_str(json.dumps({"type": "Cleared", "sequence_id": self.clears}))
                self.clears += 1
            elif kind == "Close":
                return
            else:
                await self.ws.send_str(
                    json.dumps(
                        {
                            "type": "Warning",
                            "code": "UNKNOWN_MESSAGE_TYPE",
                            "description": f"Unknown message type {kind[:40]}",
                        }
                    )
                )

    def _flush(self) -> None:
        sequence = self.flushes
        self.flushes += 1
        if self.flushes > DEEPGRAM_MAX_FLUSHES:
            self.pump.then(
                {
                    "type": "Warning",
                    "code": "FLUSH_LIMIT",
                    "description": "Too many Flush messages; try again later.",
                }
            )
            return
        if self.buffer.strip():
            self.pump.audio(encode_text(self.buffer, self.rate, self.fake.chars_per_second))
        self.buffer = ""
        sequence_id = sequence + alignment_knobs(self.fake).sequence_offset
        self.pump.then({"type": "Flushed", "sequence_id": sequence_id})
