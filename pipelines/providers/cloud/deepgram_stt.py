"""Deepgram live transcription over WebSocket, through ``deepgram-sdk``.

Audio frames go out as binary messages (queued frames are batched into one
message); ``flush()`` sends ``Finalize``. Deepgram answers a Finalize with a
``from_finalize`` result "in most cases" but not when little audio is buffered
(its docs), so a flush is also answered after ``finalize_grace`` with the final
segments received so far. Each flush gets exactly one final ``Transcript``.
Interim results stream as non-final transcripts (finalised segments plus the
current hypothesis). ``speech_final``/``UtteranceEnd`` end an utterance only
when ``final_on_endpoint`` is set (the engine normally ends turns on its own
VAD). ``KeepAlive`` is sent whenever no audio went out for
``keepalive_interval`` seconds, so pauses do not hit Deepgram's idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Final

from media.frames import AudioFrame
from pipelines.errors import ProviderError
from pipelines.providers.base import Transcript
from pipelines.providers.cloud.adapter import CloudAdapter
from pipelines.providers.cloud.deepgram_client import deepgram_client
from pipelines.providers.cloud.metrics import MetricsSink
from pipelines.providers.cloud.results import TranscriptQueue

with warnings.catch_warnings():
    # deepgram-sdk's async socket still imports websockets' deprecated legacy client.
    warnings.simplefilter("ignore", DeprecationWarning)
    from deepgram.listen.v1 import client as _listen_client  # noqa: F401  (import under filter)
    from deepgram.listen.v1 import raw_client as _listen_raw  # noqa: F401

DEFAULT_BASE_URL = "https://api.deepgram.com"
KEEPALIVE_INTERVAL = 4.0  # Deepgram closes idle sockets after ~10 s (NET-0001)
FINALIZE_GRACE = 0.5
CONNECT_TIMEOUT = 5.0
CLOSE_TIMEOUT = 1.0
# Audio queued but not yet sent; past this the socket is stuck and the stream fails.
MAX_BACKLOG_SECONDS = 10.0

_FINALIZE: Final = object()
_CLOSE: Final = object()


class DeepgramSTT(CloudAdapter):
    stage = "stt"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        model: str = "nova-3",
        name: str = "deepgram",
        sample_rate: int = 16_000,
        interim_results: bool = True,
        endpointing_ms: int | None = 300,
        utterance_end_ms: int | None = 1000,
        vad_events: bool = True,
        smart_format: bool = True,
        final_on_endpoint: bool = False,
        keepalive_interval: float = KEEPALIVE_INTERVAL,
        finalize_grace: float = FINALIZE_GRACE,
        connect_timeout: float = CONNECT_TIMEOUT,
        on_metrics: MetricsSink | None = None,
    ) -> None:
        super().__init__(name=name, base_url=base_url, api_key=api_key, on_metrics=on_metrics)
        self.model = model
        self.sample_rate = sample_rate
        self.interim_results = interim_results
        self.endpointing_ms = endpointing_ms
        self.utterance_end_ms = utterance_end_ms
        self.vad_events = vad_events
        self.smart_format = smart_format
        self.final_on_endpoint = final_on_endpoint
        self.keepalive_interval = keepalive_interval
        self.finalize_grace = finalize_grace
        self.connect_timeout = connect_timeout
        self._client = deepgram_client(api_key=api_key, base_url=base_url)

    def connect_options(self, language: str) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "model": self.model,
            "language": language,
            "encoding": "linear16",
            "sample_rate": str(self.sample_rate),
            "channels": "1",
            "interim_results": _flag(self.interim_results),
            "vad_events": _flag(self.vad_events),
            "smart_format": _flag(self.smart_format),
            "endpointing": "false" if self.endpointing_ms is None else str(self.endpointing_ms),
        }
        if self.utterance_end_ms is not None and self.interim_results:
            opts["utterance_end_ms"] = str(self.utterance_end_ms)
        return opts

    async def open_stream(self, *, language: str = "en") -> DeepgramSTTStream:
        stream = DeepgramSTTStream(self)
        try:
            async with asyncio.timeout(self.connect_timeout):
                socket = await stream.stack.enter_async_context(
                    self._client.listen.v1.connect(**self.connect_options(language))
                )
        except BaseException as exc:
            await stream.stack.aclose()
            if isinstance(exc, Exception):
                raise self._error(exc) from None
            raise
        stream.start(socket)
        return stream


def _flag(value: bool) -> str:
    return "true" if value else "false"


class DeepgramSTTStream:
    """One live socket. Not reusable after ``aclose`` or a failure."""

    def __init__(self, owner: DeepgramSTT) -> None:
        self.owner = owner
        self.stack = contextlib.AsyncExitStack()
        self._socket: Any = None
        self._outbox: asyncio.Queue[Any] = asyncio.Queue()
        self._results = TranscriptQueue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._rec = owner._recorder()
        self._finals: list[str] = []
        self._confidences: list[float] = []
        self._flushes: deque[float] = deque()  # when each unanswered flush was asked
        self._grace: asyncio.TimerHandle | None = None
        self._backlog = 0.0
        self._utterance_audio = 0.0
        self._started_audio = False
        self._closing = False
        self._failed: ProviderError | None = None
        # Observability: counted, never fatal.
        self.invalid_messages = 0
        self.keepalives_sent = 0
        self.last_word_end: float | None = None

    def start(self, socket: Any) -> None:
        self._socket = socket
        for coro in (self._send_loop(), self._receive_loop()):
            task = asyncio.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ STTStream

    def push_frame(self, frame: AudioFrame) -> None:
        if frame.sample_rate != self.owner.sample_rate:
            raise ValueError(f"expected {self.owner.sample_rate} Hz audio, got {frame.sample_rate}")
        if self._closing or self._failed is not None:
            return
        if not self._started_audio:
            self._started_audio = True
            self._rec.restart()
        seconds = frame.duration
        self._rec.audio_seconds += seconds
        self._utterance_audio += seconds
        self._backlog += seconds
        if self._backlog > MAX_BACKLOG_SECONDS:
            self._fail(
                ProviderError(
                    f"{self.owner.name}: audio backlog, socket stalled", provider=self.owner.name
                )
            )
            return
        self._outbox.put_nowait(frame.pcm)

    def flush(self) -> None:
        if self._closing or self._failed is not None:
            return
        self._flushes.append(time.perf_counter())
        self._outbox.put_nowait(_FINALIZE)

    def __aiter__(self) -> AsyncIterator[Transcript]:
        return self._results.iterate()

    async def aclose(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._grace is not None:
            self._grace.cancel()
        if self._failed is None:
            self._outbox.put_nowait(_CLOSE)
            # Let Deepgram send its last results and close the socket itself.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.stack.aclose()
        except TimeoutError:
            pass  # the peer ignored our close frame; the socket is dropped with the stack
        self._results.end()
        self.owner._publish(self._rec, self._failed)

    # ------------------------------------------------------------ I/O loops

    async def _send_loop(self) -> None:
        socket = self._socket
        try:
            while True:
                try:
                    async with asyncio.timeout(self.owner.keepalive_interval):
                        items = [await self._outbox.get()]
                except TimeoutError:
                    await socket.send_keep_alive()
                    self.keepalives_sent += 1
                    continue
                while not self._outbox.empty():
                    items.append(self._outbox.get_nowait())
                # Frames queued while we were busy go out as one message.
                audio: list[bytes] = []
                for item in items:
                    if isinstance(item, bytes):
                        audio.append(item)
                        continue
                    await self._send_audio(audio)
                    if item is _FINALIZE:
                        await socket.send_finalize()
                        self._arm_grace()
                    elif item is _CLOSE:
                        await socket.send_close_stream()
                        return
                await self._send_audio(audio)
        except Exception as exc:
            self._fail(self.owner._error(exc))

    async def _send_audio(self, audio: list[bytes]) -> None:
        if not audio:
            return
        payload = b"".join(audio)
        audio.clear()
        self._backlog = max(0.0, self._backlog - len(payload) / 2 / self.owner.sample_rate)
        await self._socket.send_media(payload)

    async def _receive_loop(self) -> None:
        try:
            async for message in self._socket:
                kind = getattr(message, "type", None)
                if kind == "Results":
                    self._on_results(message)
                elif kind == "UtteranceEnd":
                    end = getattr(message, "last_word_end", None)
                    self.last_word_end = float(end) if isinstance(end, (int, float)) else None
                    if self.owner.final_on_endpoint and self._finals:
                        self._emit_final()
                elif kind == "Error":
                    detail = str(getattr(message, "description", "") or "error message")[:200]
                    raise ProviderError(f"{self.owner.name}: {detail}", provider=self.owner.name)
                elif kind not in ("SpeechStarted", "Metadata"):
                    self.invalid_messages += 1
            if not self._closing:
                raise ProviderError(
                    f"{self.owner.name}: server closed the stream", provider=self.owner.name
                )
        except Exception as exc:
            self._fail(self.owner._error(exc))
            return
        # Normal end after CloseStream: answer any flush still waiting.
        while self._flushes:
            self._emit_final()

    # ------------------------------------------------------------ results

    def _on_results(self, message: Any) -> None:
        parsed = _transcript_of(message)
        if parsed is None:
            self.invalid_messages += 1
            return
        text, confidence = parsed
        if text:
            self._rec.first_byte()
        if getattr(message, "is_final", False) is True:
            if text:
                self._finals.append(text)
                self._confidences.append(confidence)
            if (getattr(message, "from_finalize", False) is True and self._flushes) or (
                getattr(message, "speech_final", False) is True
                and self.owner.final_on_endpoint
                and self._finals
            ):
                self._emit_final()
            elif text:
                self._results.put(Transcript(" ".join(self._finals), False, confidence))
        elif text:
            joined = " ".join([*self._finals, text])
            self._results.put(Transcript(joined, False, confidence))

    def _emit_final(self) -> None:
        text = " ".join(self._finals)
        conf = min(self._confidences) if self._confidences else (1.0 if not text else 0.0)
        self._finals.clear()
        self._confidences.clear()
        if self._flushes:
            self._rec.finalize_latency = time.perf_counter() - self._flushes.popleft()
        if not self._flushes and self._grace is not None:
            self._grace.cancel()
            self._grace = None
        self._results.put(Transcript(text, True, conf, self._utterance_audio))
        self._utterance_audio = 0.0

    def _arm_grace(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
        loop = asyncio.get_running_loop()
        self._grace = loop.call_later(self.owner.finalize_grace, self._grace_expired)

    def _grace_expired(self) -> None:
        self._grace = None
        if self._flushes and self._failed is None:
            self._emit_final()

    def _fail(self, error: ProviderError) -> None:
        if self._failed is not None or self._closing:
            return
        self._failed = error
        if self._grace is not None:
            self._grace.cancel()
        self._results.fail(error)


def _transcript_of(message: Any) -> tuple[str, float] | None:
    """(transcript, confidence) of the first alternative; None if malformed."""
    try:
        alt = message.channel.alternatives[0]
        text = alt.transcript
        confidence = alt.confidence
    except (AttributeError, IndexError, TypeError):
        return None
    if not isinstance(text, str):
        return None
    conf = float(confidence) if isinstance(confidence, (int, float)) else 0.0
    return text.strip(), conf
