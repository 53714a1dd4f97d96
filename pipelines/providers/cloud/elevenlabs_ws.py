"""ElevenLabs text-to-speech with input streaming (``/v1/text-to-speech/{voice}/stream-input``).

The wire, from ElevenLabs' WebSocket API reference: the handshake carries the
``xi-api-key`` header and ``model_id``/``output_format`` in the query. The
first message is ``{"text": " ", "voice_settings", "generation_config":
{"chunk_length_schedule": [...]}}``; then ``{"text": chunk}`` as the LLM
writes; ``{"text": " ", "flush": true}`` forces audio for what is buffered;
``{"text": ""}`` ends the input. The server answers ``{"audio": <base64 pcm>,
"isFinal": null, "alignment": {...}, "normalizedAlignment": {...}}`` messages
and finally ``{"isFinal": true}``; each alignment (either may be null) holds
``chars``, ``charStartTimesMs`` and ``charDurationsMs`` for the characters of
that message's audio, times from its first sample (``tts_alignment``).
Failures come as ``{"message", "error", "code"}`` or a close frame (1008
policy violation, 1011 server error).

The server starts generating once ``chunk_length_schedule[i]`` characters are
buffered, so a short first entry (the API minimum is 50) gets audio out before
the first sentence is complete. ElevenLabs asks that the text sent end with a
space so its model never sees half a word: ``SocketTTSStream`` sends whole
words only, holding a partial word back until it is complete or the input
ends. Barge-in closes the socket: the single-context endpoint has no "clear"
message.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed

from pipelines.errors import ProviderError, ProviderStatusError
from pipelines.providers.cloud.deepgram_client import ws_url_for
from pipelines.providers.cloud.elevenlabs_tts import DEFAULT_BASE_URL, PCM_RATES
from pipelines.providers.cloud.metrics import MetricsSink
from pipelines.providers.cloud.tts_alignment import BadAlignment, parse_char_timings
from pipelines.providers.cloud.tts_socket import (
    CONNECT_TIMEOUT,
    NOTHING,
    CloudSocketTTS,
    SocketCodec,
    SocketEvent,
)

# Characters buffered before each successive generation (API range 50-500).
CHUNK_LENGTH_SCHEDULE = (50, 120, 160, 250)
# Seconds without text before ElevenLabs closes the socket (API max 180).
INACTIVITY_TIMEOUT = 60
MAX_DETAIL = 200

# Error names in ElevenLabs' error docs, and the HTTP status each stands for.
_ERROR_STATUS: dict[str, int] = {
    "invalid_api_key": 401,
    "unauthorized": 401,
    "missing_permissions": 403,
    "quota_exceeded": 402,
    "voice_not_found": 404,
    "input_timeout_exceeded": 408,
    "invalid_request": 400,
    "validation_error": 422,
    "too_many_concurrent_requests": 429,
    "system_busy": 429,
    "rate_limited": 429,
    "internal_error": 500,
}


class ElevenLabsStreamingTTS(CloudSocketTTS):
    def __init__(
        self,
        *,
        api_key: str,
        voice_id: str,
        base_url: str = DEFAULT_BASE_URL,
        model_id: str = "eleven_flash_v2_5",
        name: str = "elevenlabs-ws",
        sample_rate: int = 16_000,
        chunk_length_schedule: tuple[int, ...] = CHUNK_LENGTH_SCHEDULE,
        voice_settings: dict[str, Any] | None = None,
        inactivity_timeout: int = INACTIVITY_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        on_metrics: MetricsSink | None = None,
    ) -> None:
        if sample_rate not in PCM_RATES:
            raise ValueError(f"ElevenLabs pcm output supports {PCM_RATES} Hz, not {sample_rate}")
        if not chunk_length_schedule or not all(50 <= n <= 500 for n in chunk_length_schedule):
            raise ValueError("chunk_length_schedule entries must be within 50..500")
        super().__init__(name=name, base_url=base_url, api_key=api_key, on_metrics=on_metrics)
        self.voice_id = voice_id
        self.model_id = model_id
        self.sample_rate = sample_rate
        self.chunk_length_schedule = tuple(chunk_length_schedule)
        self.voice_settings = voice_settings
        self.inactivity_timeout = inactivity_timeout
        self.connect_timeout = connect_timeout

    def codec(self) -> SocketCodec:
        return ElevenLabsCodec(self)


class ElevenLabsCodec(SocketCodec):
    def __init__(self, owner: ElevenLabsStreamingTTS) -> None:
        self._owner = owner

    def url(self) -> str:
        o = self._owner
        query = urlencode(
            {
                "model_id": o.model_id,
                "output_format": f"pcm_{o.sample_rate}",
                "inactivity_timeout": o.inactivity_timeout,
            }
        )
        return f"{ws_url_for(o.base_url)}/v1/text-to-speech/{o.voice_id}/stream-input?{query}"

    def headers(self) -> dict[str, str]:
        return {"xi-api-key": self._owner._api_key}

    def opening(self) -> list[str]:
        first: dict[str, Any] = {
            "text": " ",
            "generation_config": {"chunk_length_schedule": list(self._owner.chunk_length_schedule)},
        }
        if self._owner.voice_settings is not None:
            first["voice_settings"] = self._owner.voice_settings
        return [json.dumps(first)]

    def text(self, text: str) -> str:
        return json.dumps({"text": text})

    def flush(self) -> str | None:
        return '{"text": " ", "flush": true}'

    def end(self) -> list[str]:
        return ['{"text": ""}']

    def decode(self, message: str | bytes) -> SocketEvent:
        name = self._owner.name
        if isinstance(message, bytes):
            return SocketEvent(error=ProviderError(f"{name}: unexpected binary message"))
        try:
            body = json.loads(message)
        except ValueError:
            return SocketEvent(error=ProviderError(f"{name}: malformed message", provider=name))
        if not isinstance(body, dict):
            return SocketEvent(error=ProviderError(f"{name}: malformed message", provider=name))
        audio = body.get("audio")
        final = body.get("isFinal") is True
        if isinstance(audio, str) and audio:
            try:
                pcm = base64.b64decode(audio, validate=True)
            except (binascii.Error, ValueError):
                return SocketEvent(error=ProviderError(f"{name}: bad audio base64", provider=name))
            try:
                timings = parse_char_timings(body)
            except BadAlignment as exc:
                return SocketEvent(audio=pcm, done=final, bad_alignment=str(exc))
            return SocketEvent(audio=pcm, done=final, timings=timings)
        if final:
            return SocketEvent(done=True)
        if "error" in body or ("message" in body and "audio" not in body):
            return SocketEvent(error=stream_error(body, name))
        return NOTHING

    def closed_early(self, exc: ConnectionClosed) -> ProviderError:
        return closed_error(exc, self._owner.name)


def stream_error(body: dict[str, Any], provider: str) -> ProviderStatusError:
    kind = body.get("error")
    status = _ERROR_STATUS.get(kind, 500) if isinstance(kind, str) else 500
    message = body.get("message")
    detail = " ".join(str(message).split())[:MAX_DETAIL] if message else str(kind or "error")
    return ProviderStatusError(
        f"{provider}: stream error {status}: {detail}", status=status, provider=provider
    )


def closed_error(exc: ConnectionClosed, provider: str) -> ProviderError:
    """A socket closed before the provider was done: 1008 is final, the rest retryable."""
    frame = exc.rcvd
    if frame is None:
        return ProviderError(f"{provider}: connection lost", provider=provider, retryable=True)
    reason = " ".join(frame.reason.split())[:MAX_DETAIL]
    if frame.code == 1008:
        return ProviderStatusError(
            f"{provider}: closed 1008: {reason}", status=400, provider=provider
        )
    return ProviderError(
        f"{provider}: closed {frame.code}: {reason}", provider=provider, retryable=True
    )
