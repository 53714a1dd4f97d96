"""A fake ElevenLabs text-to-speech streaming endpoint.

``POST /v1/text-to-speech/{voice_id}/stream?output_format=pcm_16000`` with
header ``xi-api-key`` and JSON ``{"text", "model_id", "voice_settings"}``
streams raw PCM16 (chunked). Errors are ``{"detail": {"status", "message"}}``
as in ElevenLabs' error docs; a malformed body gets a 422 with a validation
``detail`` list. The ``character-cost`` response header mirrors what the real
API sends for usage accounting (not verified against a live response).
``GET .../stream-input`` is the input-streaming WebSocket (``tts_sockets``).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from aiohttp import web

from tests.fakes.audio import encode_text
from tests.fakes.server import ConnectionDropped, FakeServer
from tests.fakes.tts_sockets import elevenlabs_stream_input

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "Invalid request."),
    401: ("invalid_api_key", "Invalid API key"),
    404: ("voice_not_found", "A voice with that voice_id was not found."),
    429: ("too_many_concurrent_requests", "Too many concurrent requests."),
    500: ("internal_error", "Internal server error."),
    503: ("service_unavailable", "Service unavailable."),
}
_FORMAT = re.compile(r"pcm_(\d+)")


def error_response(status: int, message: str | None = None) -> web.Response:
    code, default = _ERRORS.get(status, ("internal_error", "Error."))
    return web.json_response(
        {"detail": {"status": code, "message": message or default}}, status=status
    )


class ElevenLabsFake(FakeServer):
    name = "elevenlabs"

    def __init__(self, *, voices: tuple[str, ...] = ("voice-1",), **kw: Any) -> None:
        super().__init__(**kw)
        self.voices = voices
        self.chars_per_second = 16.0
        self.chunk_bytes = 3201
        self.open_sockets = 0
        # stream-input socket only: in-band error / silent stall after N audio messages.
        self.stream_error_after: int | None = None
        self.stall_after: int | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/text-to-speech/{voice_id}/stream", self.stream),
            web.get("/v1/text-to-speech/{voice_id}/stream-input", self.stream_input),
        ]

    async def stream_input(self, request: web.Request) -> web.StreamResponse:
        return await elevenlabs_stream_input(self, request)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        rec = await self.record(request, body)
        await self.before_first_byte(rec)
        if request.headers.get("xi-api-key") != self.api_key:
            return error_response(401)
        if self.knobs.error_status is not None:
            return error_response(self.knobs.error_status)
        if request.match_info["voice_id"] not in self.voices:
            return error_response(404)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            detail = [{"loc": ["body", "text"], "msg": "Field required", "type": "missing"}]
            return web.json_response({"detail": detail}, status=422)
        match = _FORMAT.fullmatch(request.query.get("output_format", "mp3_44100_128"))
        if match is None:
            return error_response(400, "This fake only serves pcm_* output formats.")
        pcm = encode_text(text, int(match.group(1)), self.chars_per_second)
        headers = {"Content-Type": "audio/pcm", "character-cost": str(len(text))}
        resp = web.StreamResponse(headers=headers)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        with contextlib.suppress(ConnectionDropped, ConnectionResetError):
            for sent, start in enumerate(range(0, len(pcm), self.chunk_bytes)):
                await self.pace(sent, request)
                rec.mark_first_byte()  # before the write: the peer may read it first
                await resp.write(pcm[start : start + self.chunk_bytes])
            await resp.write_eof()
        return resp
