"""A fake Deepgram: live transcription (WebSocket ``/v1/listen``) and Aura (``/v1/speak``).

Shapes from Deepgram's public docs and the message models in ``deepgram-sdk``:
- ``/v1/listen``: auth ``Authorization: Token <key>`` on the upgrade request
  (a bad key gets HTTP 401 before the upgrade); query ``encoding``,
  ``sample_rate``, ``interim_results``, ``endpointing``, ``utterance_end_ms``,
  ``vad_events``. Binary frames are audio; text frames are ``KeepAlive``,
  ``Finalize`` and ``CloseStream``. The server sends ``Results`` (``is_final``,
  ``speech_final``, ``from_finalize``), ``SpeechStarted``, ``UtteranceEnd`` and,
  on ``CloseStream``, ``Metadata`` then a normal close. With no data for
  ``idle_timeout`` it closes with 1011 ``NET-0001`` (the reason text is from
  the docs' error list; the exact close payload is not verified).
- ``/v1/speak``: ``POST`` JSON ``{"text"}``, query ``model``, ``encoding``,
  ``sample_rate``, ``container``; answers raw audio bytes. REST errors are
  ``{"err_code", "err_msg", "request_id"}``.
- ``GET /v1/speak``: the Aura input-streaming WebSocket (``tts_sockets``).

The fake "recognises" words of ``transcript``: one word per ``word_seconds`` of
non-silent audio, so tests control what is heard by how much speech they push.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.audio import encode_text, is_silent
from tests.fakes.server import ConnectionDropped, FakeServer, drop_connection
from tests.fakes.tts_sockets import deepgram_speak_socket

MIN_FINALIZE_AUDIO = 0.25  # seconds of unfinalised audio below which Finalize gets no answer
_REST_ERRORS: dict[int, tuple[str, str]] = {
    400: ("Bad Request", "Bad request."),
    401: ("INVALID_AUTH", "Invalid credentials."),
    402: ("ASR_PAYMENT_REQUIRED", "Project does not have enough credits."),
    403: ("INSUFFICIENT_PERMISSIONS", "Project does not have access to the requested model."),
    429: ("TOO_MANY_REQUESTS", "Too many requests. Please try again later."),
    500: ("INTERNAL_SERVER_ERROR", "Internal server error."),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable."),
}


def rest_error(status: int, message: str | None = None) -> web.Response:
    code, default = _REST_ERRORS.get(status, ("INTERNAL_SERVER_ERROR", "Error."))
    body = {"err_code": code, "err_msg": message or default, "request_id": str(uuid.uuid4())}
    return web.json_response(body, status=status)


class DeepgramFake(FakeServer):
    name = "deepgram"

    def __init__(self, *, transcript: str = "hello world how are you", **kw: Any) -> None:
        super().__init__(**kw)
        self.transcript = transcript
        self.word_seconds = 0.2
        self.idle_timeout = 10.0
        self.chars_per_second = 16.0
        self.chunk_bytes = 4801
        self.open_sockets = 0
        # /v1/speak socket only: in-band Error / silent stall after N audio messages.
        self.stream_error_after: int | None = None
        self.stall_after: int | None = None
        # Raw text frames sent right after the handshake (malformed-input tests).
        self.inject_messages: list[str] = []

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/listen", self.listen),
            web.post("/v1/speak", self.speak),
            web.get("/v1/speak", self.speak_socket),
        ]

    async def speak_socket(self, request: web.Request) -> web.StreamResponse:
        return await deepgram_speak_socket(self, request)

    def _auth_ok(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Token {self.api_key}"

    # ------------------------------------------------------------ live STT

    async def listen(self, request: web.Request) -> web.StreamResponse:
        rec = await self.record(request)
        await self.before_first_byte(rec)
        if not self._auth_ok(request):
            return rest_error(401)
        if self.knobs.error_status is not None:
            return rest_error(self.knobs.error_status)
        query = request.query
        if query.get("encoding") == "linear16" and "sample_rate" not in query:
            return rest_error(400, "sample_rate is required with encoding.")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.open_sockets += 1
        session = _ListenSession(self, request, ws, rec)
        try:
            await session.run()
        finally:
            self.open_sockets -= 1
        return ws

    # ------------------------------------------------------------ Aura TTS

    async def speak(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        rec = await self.record(request, body)
        await self.before_first_byte(rec)
        if not self._auth_ok(request):
            return rest_error(401)
        if self.knobs.error_status is not None:
            return rest_error(self.knobs.error_status)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return rest_error(400, "Text is required.")
        if request.query.get("encoding", "linear16") != "linear16":
            return rest_error(400, "This fake only serves encoding=linear16.")
        rate = int(request.query.get("sample_rate", "24000"))
        pcm = encode_text(text, rate, self.chars_per_second)
        headers = {"Content-Type": "audio/l16", "dg-char-count": str(len(text))}
        resp = web.StreamResponse(headers=headers)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        with contextlib.suppress(ConnectionResetError, ConnectionDropped):
            for sent, start in enumerate(range(0, len(pcm), self.chunk_bytes)):
                await self.pace(sent, request)
                rec.mark_first_byte()  # before the write: the peer may read it first
                await resp.write(pcm[start : start + self.chunk_bytes])
            await resp.write_eof()
        return resp


class _ListenSession:
    """One live-transcription socket: audio time drives which words are heard."""

    def __init__(
        self, fake: DeepgramFake, request: web.Request, ws: web.WebSocketResponse, rec: Any
    ) -> None:
        self.fake = fake
        self.request = request
        self.ws = ws
        self.rec = rec
        q = request.query
        self.rate = int(q.get("sample_rate", "16000"))
        self.interim = q.get("interim_results") == "true"
        endpointing = q.get("endpointing", "10")
        self.endpointing_s = None if endpointing == "false" else int(endpointing) / 1000
        ue = q.get("utterance_end_ms")
        self.utterance_end_s = int(ue) / 1000 if ue else None
        self.vad_events = q.get("vad_events") == "true"
        self.words = fake.transcript.split()
        self.request_id = str(uuid.uuid4())
        self.audio_s = 0.0  # total audio received
        self.speech_s = 0.0  # non-silent audio received
        self.silence_run = 0.0
        self.heard = 0  # words recognised so far
        self.final_upto = 0  # words already sent as final
        self.segment_start = 0.0
        self.last_word_end = 0.0
        self.speaking = False
        self.utterance_open = False
        self.out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def run(self) -> None:
        for raw in self.fake.inject_messages:
            await self.ws.send_str(raw)
        sender = asyncio.create_task(self._send_loop())
        try:
            await self._receive_loop()
        finally:
            await self.out.put(None)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    async def _receive_loop(self) -> None:
        while True:
            try:
                msg = await self.ws.receive(timeout=self.fake.idle_timeout)
            except TimeoutError:
                await self.ws.close(code=1011, message=b"NET-0001")
                return
            if msg.type == WSMsgType.BINARY:
                self.rec.audio_bytes += len(msg.data)
                self._on_audio(msg.data)
            elif msg.type == WSMsgType.TEXT:
                if not await self._on_control(msg.data):
                    return
            else:
                return

    def _on_audio(self, data: bytes) -> None:
        # Judge speech per 20 ms slice, whatever the client's message sizes.
        step = self.rate // 50 * 2
        for start in range(0, len(data), step):
            self._on_slice(data[start : start + step])

    def _on_slice(self, pcm: bytes) -> None:
        seconds = len(pcm) / 2 / self.rate
        self.audio_s += seconds
        if is_silent(pcm):
            self.silence_run += seconds
            self._maybe_endpoint()
            return
        if not self.speaking:
            self.speaking = True
            if self.vad_events:
                self._emit({"type": "SpeechStarted", "channel": [0], "timestamp": self.audio_s})
        self.silence_run = 0.0
        self.speech_s += seconds
        heard = min(len(self.words), int(self.speech_s / self.fake.word_seconds + 1e-9))
        if heard > self.heard:
            self.heard = heard
            self.last_word_end = self.audio_s
            self.utterance_open = True
            if self.interim:
                self._emit(self._results(is_final=False, speech_final=False))

    def _maybe_endpoint(self) -> None:
        if self.speaking and self.silence_run > 0:
            self.speaking = False
        pending = self.heard > self.final_upto
        if pending and self.endpointing_s is not None and self.silence_run >= self.endpointing_s:
            self._emit(self._results(is_final=True, speech_final=True))
            self._finalize_segment()
        if (
            self.utterance_open
            and self.utterance_end_s is not None
            and self.silence_run >= self.utterance_end_s
        ):
            self.utterance_open = False
            self._emit(
                {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": self.last_word_end}
            )

    async def _on_control(self, text: str) -> bool:
        try:
            data = json.loads(text)
            kind = data["type"]
        except (ValueError, KeyError, TypeError):
            err = {"type": "Error", "variant": "SchemaError"}
            err |= {"description": "Could not parse client message.", "message": text[:200]}
            self._emit(err)
            return True
        self.rec.messages.append(data)
        self.rec.marks.append((f"in:{kind}", time.perf_counter()))
        if kind == "KeepAlive":
            return True
        if kind == "Finalize":
            # Deepgram's docs: the from_finalize answer is "not guaranteed if there
            # is no significant amount of audio data to process"; this fake skips it then.
            buffered = self.audio_s - self.segment_start
            if self.heard > self.final_upto or buffered >= MIN_FINALIZE_AUDIO:
                self._emit(self._results(is_final=True, speech_final=False, from_finalize=True))
                self._finalize_segment()
            return True
        if kind == "CloseStream":
            if self.heard > self.final_upto:
                self._emit(self._results(is_final=True, speech_final=True))
                self._finalize_segment()
            self._emit(self._metadata())
            await self.out.put(None)
            await self.out.join()
            await self.ws.close()
            return False
        err = {"type": "Error", "variant": "SchemaError"}
        err |= {"description": f"Unknown message type {kind!r}.", "message": text[:200]}
        self._emit(err)
        return True

    def _finalize_segment(self) -> None:
        self.final_upto = self.heard
        self.segment_start = self.audio_s

    def _results(self, *, is_final: bool, speech_final: bool, from_finalize: bool = False) -> Any:
        words = self.words[self.final_upto : self.heard]
        step = self.fake.word_seconds
        items = [
            {
                "word": w.lower(),
                "start": self.segment_start + i * step,
                "end": self.segment_start + (i + 1) * step,
                "confidence": 0.98,
                "punctuated_word": w,
            }
            for i, w in enumerate(words)
        ]
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": self.audio_s - self.segment_start,
            "start": self.segment_start,
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {
                "alternatives": [
                    {"transcript": " ".join(words), "confidence": 0.98, "words": items}
                ]
            },
            "metadata": {
                "request_id": self.request_id,
                "model_info": {
                    "name": "2-general-nova",
                    "version": "2024-01-09.29447",
                    "arch": "nova-3",
                },
                "model_uuid": "1dbdfb4d-85b2-4659-9da1-b6bd0ef9b2a5",
            },
        }

    def _metadata(self) -> dict[str, Any]:
        return {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self.request_id,
            "sha256": "0" * 64,
            "created": "2024-08-29T22:37:55.202Z",
            "duration": self.audio_s,
            "channels": 1,
        }

    def _emit(self, message: dict[str, Any]) -> None:
        self.out.put_nowait(message)

    async def _send_loop(self) -> None:
        sent = 0
        knobs = self.fake.knobs
        while True:
            message = await self.out.get()
            try:
                if message is None:
                    return
                if knobs.disconnect_after is not None and sent >= knobs.disconnect_after:
                    drop_connection(self.request)
                    return
                if sent and knobs.token_interval:
                    await asyncio.sleep(knobs.token_interval)
                if message.get("from_finalize"):
                    self.rec.marks.append(("out:from_finalize", time.perf_counter()))
                await self.ws.send_str(json.dumps(message))
                sent += 1
            finally:
                self.out.task_done()
