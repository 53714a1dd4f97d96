"""A fake OpenAI-compatible API: chat completions (SSE), transcription, speech.

Wire shapes follow OpenAI's public API reference:
- ``POST /v1/chat/completions`` with ``stream: true`` answers
  ``text/event-stream`` lines ``data: {chat.completion.chunk}``, ending with
  ``data: [DONE]``; tool calls arrive as ``delta.tool_calls[i]`` fragments (id,
  name, then argument pieces); with ``stream_options.include_usage`` a last
  chunk has ``choices: []`` and ``usage``.
- ``POST /v1/audio/transcriptions`` takes multipart ``file`` + ``model`` and
  answers ``{"text": ...}``. The ``usage`` object (``type: duration``) mirrors
  newer API responses; its exact presence per model is not verified here. The
  body may come chunked, and a WAV's sizes may be 0xFFFFFFFF ("to the end of
  the file"), which Whisper is reported to accept (openai/openai-python#1025);
  ``refuse_streamed`` answers a chunked upload with an error status instead,
  as a server that cannot take one would.
- ``POST /v1/audio/speech`` with ``response_format: pcm`` streams raw 24 kHz
  PCM16 mono (chunked). The response content type is not documented; we use
  ``audio/pcm``.
- Auth: ``Authorization: Bearer <key>``; errors are
  ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import wave
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from aiohttp import web

from tests.fakes.audio import encode_text
from tests.fakes.llm_script import LLMScript, ScriptedTool, count_tokens
from tests.fakes.server import ConnectionDropped, FakeServer, drop_connection

SPEECH_RATE = 24_000
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    408: ("server_error", None, "Request timed out."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def error_response(status: int, message: str | None = None) -> web.Response:
    kind, code, default = _ERRORS.get(status, ("server_error", None, "Error."))
    body = {"error": {"message": message or default, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status)


class OpenAIFake(FakeServer):
    name = "openai"

    def __init__(self, *, transcript: str = "what is the weather", **kw: Any) -> None:
        super().__init__(**kw)
        self.script = LLMScript()
        self.transcript = transcript
        self.chars_per_second = 16.0
        self.chunk_bytes = 4801  # odd on purpose: adapters must re-align samples
        # Raw SSE text written after the role chunk (malformed-input tests).
        self.inject_events: list[str] = []
        # A transcription answered with this raw body instead (malformed-input tests).
        self.transcription_body: bytes | None = None
        # Answer chunked (streamed) uploads with this status (a server that takes none).
        self.refuse_streamed: int | None = None
        # Transcription body bytes received so far, counted as they arrive.
        self.upload_bytes = 0
        # The file part of the latest transcription request.
        self.last_audio: bytes | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self.chat),
            web.post("/v1/audio/transcriptions", self.transcriptions),
            web.post("/v1/audio/speech", self.speech),
        ]

    def _auth_error(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.api_key}":
            # OpenAI echoes a masked key here; the fake echoes it whole, so tests
            # prove adapters mask what a provider sends back.
            provided = auth.removeprefix("Bearer ")
            return error_response(401, f"Incorrect API key provided: {provided}.")
        if self.knobs.error_status is not None:
            return error_response(self.knobs.error_status)
        return None

    # ------------------------------------------------------------ chat

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        rec = await self.record(request, body)
        await self.before_first_byte(rec)
        if (err := self._auth_error(request)) is not None:
            return err
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not body.get("model"):
            return error_response(400, "'messages' and 'model' are required.")
        if not body.get("stream"):
            return error_response(400, "This fake only serves stream=true.")
        last = messages[-1]
        prefill = last.get("content") if last.get("role") == "assistant" else None
        tokens = self.script.tokens_for(prefill if isinstance(prefill, str) else None)
        prompt_tokens = sum(count_tokens(str(m.get("content") or "")) for m in messages)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await resp.prepare(request)
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        model = str(body["model"])

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                data["usage"] = None
            return f"data: {json.dumps(data)}\n\n".encode()

        sent = 0
        try:
            await resp.write(chunk({"role": "assistant", "content": "", "refusal": None}))
            for raw in self.inject_events:
                await resp.write(raw.encode())
            for token in tokens:
                await self.pace(sent, request)
                rec.mark_first_byte()  # before the write: the peer may read it first
                await resp.write(chunk({"content": token}))
                sent += 1
            for i, tool in enumerate(self.script.tool_calls):
                for delta in _tool_call_deltas(i, tool):
                    await self.pace(sent, request)
                    await resp.write(chunk({"tool_calls": [delta]}))
                    sent += 1
            finish = "tool_calls" if self.script.tool_calls else "stop"
            await resp.write(chunk({}, finish))
            if include_usage:
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": sent,
                    "total_tokens": prompt_tokens + sent,
                }
                data = {"id": cid, "object": "chat.completion.chunk", "created": created}
                data |= {"model": model, "choices": [], "usage": usage}
                await resp.write(f"data: {json.dumps(data)}\n\n".encode())
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except (ConnectionDropped, ConnectionResetError):
            pass
        return resp

    # ------------------------------------------------------------ transcription

    async def transcriptions(self, request: web.Request) -> web.StreamResponse:
        raw = bytearray()
        async for piece in request.content.iter_any():
            raw += piece
            self.upload_bytes += len(piece)
        rec = await self.record(request)  # fully read: the latency runs from here
        audio, fields = parse_form(request.headers.get("Content-Type", ""), bytes(raw))
        rec.body = fields
        self.last_audio = audio
        await self.before_first_byte(rec)
        if (err := self._auth_error(request)) is not None:
            return err
        if self.refuse_streamed is not None and request.headers.get("Transfer-Encoding"):
            return error_response(self.refuse_streamed, "Streamed uploads are not supported.")
        if audio is None or not fields.get("model"):
            return error_response(400, "'file' and 'model' are required.")
        seconds = wav_seconds(audio)
        if seconds is None:
            return error_response(400, "Invalid file format.")
        if self.knobs.disconnect_after is not None:
            # A transcription is one JSON body: "mid-stream" means the socket dies instead.
            drop_connection(request)
            return web.Response(status=500)
        body = {"text": self.transcript, "usage": {"type": "duration", "seconds": seconds}}
        resp = web.json_response(body)
        if self.transcription_body is not None:
            resp = web.Response(body=self.transcription_body, content_type="application/json")
        rec.mark_first_byte()  # serialised; the write follows (the peer may read it first)
        return resp

    # ------------------------------------------------------------ speech

    async def speech(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        rec = await self.record(request, body)
        await self.before_first_byte(rec)
        if (err := self._auth_error(request)) is not None:
            return err
        text = body.get("input")
        if not isinstance(text, str) or not text or not body.get("voice"):
            return error_response(400, "'input' and 'voice' are required.")
        if body.get("response_format") != "pcm":
            return error_response(400, "This fake only serves response_format=pcm.")
        pcm = encode_text(text, SPEECH_RATE, self.chars_per_second)
        resp = web.StreamResponse(headers={"Content-Type": "audio/pcm"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for sent, start in enumerate(range(0, len(pcm), self.chunk_bytes)):
                await self.pace(sent, request)
                rec.mark_first_byte()  # before the write: the peer may read it first
                await resp.write(pcm[start : start + self.chunk_bytes])
            await resp.write_eof()
        except (ConnectionDropped, ConnectionResetError):
            pass
        return resp


def wav_seconds(audio: bytes) -> float | None:
    """The length of a PCM WAV file, or ``None`` if it is not one.

    A data size of 0xFFFFFFFF, or one past the end of the file (a WAV written
    while it was recorded), means the samples present, as ffmpeg reads it.
    """
    try:
        with wave.open(io.BytesIO(audio), "rb") as wav:
            rate, frame_bytes, frames = wav.getframerate(), wav.getsampwidth(), wav.getnframes()
            frame_bytes *= wav.getnchannels()
    except (wave.Error, EOFError):
        return None
    data = audio.find(b"data", 12)
    if rate <= 0 or frame_bytes <= 0 or data < 0:
        return None
    present = (len(audio) - data - 8) // frame_bytes
    return min(frames, present) / rate


def parse_form(content_type: str, raw: bytes) -> tuple[bytes | None, dict[str, str]]:
    """A multipart/form-data body: the ``file`` part's bytes and the other fields.

    Parsed from the bytes already read (not ``request.post()``, which spools
    uploads to a temp file), so the fake's hold time starts when the body is in.
    Anything unparsable is an empty form (the handler answers 400).
    """
    if not content_type.lower().startswith("multipart/form-data"):
        return None, {}
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        return None, {}
    audio: bytes | None = None
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if name == "file":
            audio = payload
        else:
            fields[name] = payload.decode("utf-8", "replace")
    return audio, fields


def _tool_call_deltas(index: int, tool: ScriptedTool) -> list[dict[str, Any]]:
    half = len(tool.arguments) // 2
    first = {
        "index": index,
        "id": f"call_{uuid.uuid4().hex[:20]}",
        "type": "function",
        "function": {"name": tool.name, "arguments": ""},
    }
    return [
        first,
        {"index": index, "function": {"arguments": tool.arguments[:half]}},
        {"index": index, "function": {"arguments": tool.arguments[half:]}},
    ]
