"""Deepgram Aura text-to-speech with input streaming (WebSocket ``/v1/speak``).

The wire, from Deepgram's TTS WebSocket docs and ``deepgram-sdk``'s message
models: ``Authorization: Token <key>`` on the handshake, ``model``,
``encoding=linear16`` and ``sample_rate`` in the query. The client sends
``{"type": "Speak", "text"}``, ``{"type": "Flush"}`` (generate what is
buffered), ``{"type": "Clear"}`` (drop it: barge-in) and ``{"type": "Close"}``.
The server sends audio as binary messages and JSON ``Metadata``, ``Flushed``
(``sequence_id``), ``Cleared``, ``Warning`` (``code``, ``description``) and
``Error`` (``err_code``, ``err_msg``).

Deepgram generates only on ``Flush``, and allows 20 flushes a minute. This
adapter flushes by itself at the end of each sentence (an ender followed by
whitespace in the text sent, which ends on a word edge: "$3.50", "e.g." and
"3.5" end nothing), and once early: at the first clause end (a comma after
``early_flush_chars``) or, failing one, at a word edge once
``first_flush_chars`` are buffered (as ElevenLabs' minimum
``chunk_length_schedule``), so the first audio comes while the first sentence
is still being written. Past ``max_flushes`` on one socket it only flushes at
the end of the input. Each ``Flushed`` tells exactly where the audio of one
flushed piece of text ends, so barge-in can cut the reply there.

Not the SDK's socket: ``deepgram-sdk``'s async socket runs on websockets'
deprecated legacy client and drops message types it does not know (``Error``
among them), which would hide why a stream failed.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed

from pipelines.errors import ProviderError, ProviderStatusError
from pipelines.providers.cloud.deepgram_client import ws_url_for
from pipelines.providers.cloud.deepgram_stt import DEFAULT_BASE_URL
from pipelines.providers.cloud.deepgram_tts import AURA_RATES
from pipelines.providers.cloud.elevenlabs_ws import closed_error
from pipelines.providers.cloud.metrics import MetricsSink
from pipelines.providers.cloud.tts_socket import (
    CONNECT_TIMEOUT,
    NOTHING,
    CloudSocketTTS,
    SocketCodec,
    SocketEvent,
)

log = logging.getLogger(__name__)

EARLY_FLUSH_CHARS = 12
FIRST_FLUSH_CHARS = 50
# Deepgram's limit is 20 flushes per 60 s; keep one for the end of the input.
MAX_FLUSHES = 19
MAX_DETAIL = 200
_SENTENCE_END = ".!?"
_CLAUSE_END = ",;:"
# Words that end in a period but do not end a sentence (as ``pipelines.text``).
_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "e.g.", "i.e.", "etc."})
# Deepgram error codes (its error docs) and the HTTP status each stands for.
_ERROR_STATUS = {"DATA-0000": 400, "INVALID_AUTH": 401, "TOO_MANY_REQUESTS": 429}

_FLUSH = '{"type": "Flush"}'
_CLEAR = '{"type": "Clear"}'
_CLOSE = '{"type": "Close"}'
_FLUSHED = SocketEvent(flushed=True)


class DeepgramStreamingTTS(CloudSocketTTS):
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        model: str = "aura-2-thalia-en",
        name: str = "deepgram-ws",
        sample_rate: int = 24_000,
        early_flush_chars: int = EARLY_FLUSH_CHARS,
        first_flush_chars: int = FIRST_FLUSH_CHARS,
        max_flushes: int = MAX_FLUSHES,
        connect_timeout: float = CONNECT_TIMEOUT,
        on_metrics: MetricsSink | None = None,
    ) -> None:
        if sample_rate not in AURA_RATES:
            raise ValueError(f"Aura linear16 supports {AURA_RATES} Hz, not {sample_rate}")
        super().__init__(name=name, base_url=base_url, api_key=api_key, on_metrics=on_metrics)
        self.model = model
        self.sample_rate = sample_rate
        self.early_flush_chars = early_flush_chars
        self.first_flush_chars = first_flush_chars
        self.max_flushes = max_flushes
        self.connect_timeout = connect_timeout

    def codec(self) -> SocketCodec:
        return DeepgramSpeakCodec(self)

    def auto_flush(self, text: str, since_flush: int, flushes: int) -> bool:
        if flushes >= self.max_flushes:
            return False
        # The text sent ends on a word edge, so a sentence end in it is whole.
        if _ends_sentence(text):
            return True
        if flushes:
            return False
        if since_flush >= self.early_flush_chars and any(c in text for c in _CLAUSE_END):
            return True
        # No clause end yet: a word edge once enough text is waiting.
        return since_flush >= self.first_flush_chars and text[-1:].isspace()


def _ends_sentence(text: str) -> bool:
    """Whether a sentence ends in ``text``: an ender followed by whitespace,
    after a word that is not an abbreviation."""
    for at, char in enumerate(text[:-1]):
        if char in _SENTENCE_END and text[at + 1].isspace():
            word = text[: at + 1].rsplit(None, 1)[-1].lower()
            if word not in _ABBREVIATIONS:
                return True
    return False


class DeepgramSpeakCodec(SocketCodec):
    done_by_flushes = True
    # Audio comes flush by flush, each answered by ``Flushed`` (``sequence_id``
    # counting from 0): the text boundaries the history is cut at.
    flush_marks = True

    def __init__(self, owner: DeepgramStreamingTTS) -> None:
        self._owner = owner

    def url(self) -> str:
        o = self._owner
        query = urlencode({"model": o.model, "encoding": "linear16", "sample_rate": o.sample_rate})
        return f"{ws_url_for(o.base_url)}/v1/speak?{query}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self._owner._api_key}"}

    def text(self, text: str) -> str:
        return json.dumps({"type": "Speak", "text": text})

    def flush(self) -> str | None:
        return _FLUSH

    def end(self) -> list[str]:
        return []  # the final Flush (sent by the stream) is the end; Close after it

    def cancel(self) -> list[str]:
        return [_CLEAR, _CLOSE]

    def goodbye(self) -> list[str]:
        return [_CLOSE]

    def decode(self, message: str | bytes) -> SocketEvent:
        if isinstance(message, bytes):
            return SocketEvent(audio=message)
        name = self._owner.name
        try:
            body: Any = json.loads(message)
        except ValueError:
            return SocketEvent(error=ProviderError(f"{name}: malformed message", provider=name))
        kind = body.get("type") if isinstance(body, dict) else None
        if kind == "Flushed":
            sequence = body.get("sequence_id")
            if sequence is None:
                return _FLUSHED
            if isinstance(sequence, bool) or not isinstance(sequence, int):
                return SocketEvent(flushed=True, bad_alignment="sequence_id is not an integer")
            return SocketEvent(flushed=True, sequence=sequence)
        if kind == "Error":
            return SocketEvent(error=_error_event(body, name))
        if kind == "Warning":
            log.warning("%s: warning %s", name, str(body.get("description", ""))[:MAX_DETAIL])
        return NOTHING  # Metadata, Cleared, Warning and future types

    def closed_early(self, exc: ConnectionClosed) -> ProviderError:
        return closed_error(exc, self._owner.name)


def _error_event(body: dict[str, Any], provider: str) -> ProviderStatusError:
    code = body.get("err_code")
    status = _ERROR_STATUS.get(code, 500) if isinstance(code, str) else 500
    message = body.get("err_msg") or body.get("description") or code or "error"
    detail = " ".join(str(message).split())[:MAX_DETAIL]
    return ProviderStatusError(
        f"{provider}: stream error {status}: {detail}", status=status, provider=provider
    )
