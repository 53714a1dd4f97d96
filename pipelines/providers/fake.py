"""Fake providers with fault knobs, for tests, benchmarks and demos.

They speak the same Protocols as real adapters. Latencies use ``asyncio.sleep``
so they run on a virtual clock in tests and in real time in benchmarks.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from media.frames import AudioFrame
from pipelines.errors import ProviderError
from pipelines.providers.base import (
    ChatMessage,
    LLMEvent,
    LLMUsage,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Transcript,
)


async def _hang_forever() -> None:
    await asyncio.Event().wait()


# ---------------------------------------------------------------- STT


@dataclass
class FakeSTTKnobs:
    final_latency: float = 0.15  # flush -> final
    fail_on_flush: bool = False
    hang: bool = False


class FakeSTTStream:
    def __init__(self, provider: FakeSTT) -> None:
        self._provider = provider
        self._queue: asyncio.Queue[Transcript | None] = asyncio.Queue()
        self._samples = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def push_frame(self, frame: AudioFrame) -> None:
        self._samples += frame.sample_count

    def flush(self) -> None:
        seconds = self._samples / self._provider.sample_rate
        self._samples = 0
        task = asyncio.get_running_loop().create_task(self._finalize(seconds))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finalize(self, seconds: float) -> None:
        knobs = self._provider.knobs
        if knobs.hang:
            await _hang_forever()
        await asyncio.sleep(knobs.final_latency)
        if knobs.fail_on_flush:
            raise ProviderError("fake stt failure", provider=self._provider.name)
        text = self._provider.next_text()
        self._queue.put_nowait(Transcript(text=text, is_final=True, audio_seconds=seconds))

    def __aiter__(self) -> AsyncIterator[Transcript]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Transcript]:
        while (item := await self._queue.get()) is not None:
            yield item

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._queue.put_nowait(None)


class FakeSTT:
    """Each ``flush`` yields the next scripted transcript after ``final_latency``."""

    name = "fake-stt"
    sample_rate = 16_000

    def __init__(self, script: Sequence[str] = (), knobs: FakeSTTKnobs | None = None) -> None:
        self.knobs = knobs or FakeSTTKnobs()
        self._script = deque(script)
        self.streams_opened = 0

    def next_text(self) -> str:
        return self._script.popleft() if self._script else "hello"

    def add(self, *texts: str) -> None:
        self._script.extend(texts)

    async def open_stream(self, *, language: str = "en") -> FakeSTTStream:
        self.streams_opened += 1
        return FakeSTTStream(self)


# ---------------------------------------------------------------- LLM


@dataclass
class FakeLLMKnobs:
    first_token_latency: float = 0.2
    token_interval: float = 0.01
    fail_after_tokens: int | None = None  # raise after this many tokens (0 = at connect)
    hang: bool = False
    retryable: bool = True


Responder = Callable[[Sequence[ChatMessage]], str | ToolCall]


def _echo_responder(messages: Sequence[ChatMessage]) -> str:
    last = next((m.content for m in reversed(messages) if m.role == "user"), "")
    return f"You said: {last}. That is all I have to say about it."


class FakeLLM:
    """Streams a reply word by word. The reply comes from ``responder`` (default:
    an echo), or a ``ToolCall`` which is emitted as a tool-call event."""

    def __init__(
        self,
        responder: Responder | None = None,
        knobs: FakeLLMKnobs | None = None,
        name: str = "fake-llm",
    ) -> None:
        self.name = name
        self.knobs = knobs or FakeLLMKnobs()
        self._responder = responder or _echo_responder
        self.requests: list[list[ChatMessage]] = []
        self.cancelled = 0

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[LLMEvent]:
        self.requests.append(list(messages))
        knobs = self.knobs
        try:
            if knobs.hang:
                await _hang_forever()
            await asyncio.sleep(knobs.first_token_latency)
            if knobs.fail_after_tokens == 0:
                raise ProviderError(
                    "fake llm failure", provider=self.name, retryable=knobs.retryable
                )
            reply = self._responder(messages)
            if isinstance(reply, ToolCall):
                yield ToolCallEvent(reply)
                yield LLMUsage(prompt_tokens=_count(messages), completion_tokens=1)
                return
            tokens = [w + " " for w in reply.split(" ")]
            tokens[-1] = tokens[-1].rstrip()
            for i, token in enumerate(tokens):
                if knobs.fail_after_tokens is not None and i >= knobs.fail_after_tokens:
                    raise ProviderError(
                        "fake llm failure", provider=self.name, retryable=knobs.retryable
                    )
                if i:
                    await asyncio.sleep(knobs.token_interval)
                yield TextDelta(token)
            yield LLMUsage(prompt_tokens=_count(messages), completion_tokens=len(tokens))
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


def _count(messages: Sequence[ChatMessage]) -> int:
    return sum(len(m.content.split()) for m in messages)


# ---------------------------------------------------------------- TTS


@dataclass
class FakeTTSKnobs:
    first_audio_latency: float = 0.1
    seconds_per_char: float = 0.06  # how long the produced speech lasts
    chunk_ms: int = 20
    chunk_interval: float = 0.0  # pause between chunks after the first (0 = burst)
    fail_after_chunks: int | None = None
    hang: bool = False


class FakeTTS:
    """Produces a tone whose length is proportional to the text."""

    def __init__(
        self, sample_rate: int = 16_000, knobs: FakeTTSKnobs | None = None, name: str = "fake-tts"
    ) -> None:
        self.name = name
        self.sample_rate = sample_rate
        self.knobs = knobs or FakeTTSKnobs()
        self.spoken: list[str] = []
        self.cancelled = 0

    def samples_for(self, text: str) -> int:
        return int(len(text) * self.knobs.seconds_per_char * self.sample_rate)

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        knobs = self.knobs
        self.spoken.append(text)
        try:
            if knobs.hang:
                await _hang_forever()
            await asyncio.sleep(knobs.first_audio_latency)
            total = self.samples_for(text)
            chunk = self.sample_rate * knobs.chunk_ms // 1000
            for n, start in enumerate(range(0, total, chunk)):
                if knobs.fail_after_chunks is not None and n >= knobs.fail_after_chunks:
                    raise ProviderError("fake tts failure", provider=self.name)
                if n and knobs.chunk_interval:
                    await asyncio.sleep(knobs.chunk_interval)
                yield tone(min(chunk, total - start), self.sample_rate, offset=start)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


@dataclass
class FakeStreamKnobs:
    connect_latency: float = 0.05  # open_stream -> ready
    # The voice starts on buffered text once this many characters wait (cut at
    # a word edge), like ElevenLabs' chunk schedule; flush/end start it anyway.
    min_chars: int = 1
    fail_at_open: bool = False


class FakeTTSTextStream:
    """Text in as it is written, a tone per released piece of text out.

    Uses the owner's ``FakeTTSKnobs``: ``first_audio_latency`` before the first
    piece's audio, ``chunk_ms``/``chunk_interval`` for the chunks,
    ``fail_after_chunks`` (counted over the whole stream) and ``hang``.
    """

    def __init__(self, owner: FakeStreamingTTS) -> None:
        self._owner = owner
        self._buffer = ""
        self._pieces: asyncio.Queue[str | None] = asyncio.Queue()
        self._ended = False
        self._closed = False
        self.text = ""

    def push_text(self, text: str) -> None:
        if self._ended or self._closed:
            return
        self.text += text
        self._buffer += text
        if len(self._buffer.strip()) >= self._owner.stream_knobs.min_chars:
            edge = max(self._buffer.rfind(" "), self._buffer.rfind("\n"))
            if edge > 0:
                self._release(self._buffer[: edge + 1])
                self._buffer = self._buffer[edge + 1 :]

    def flush(self) -> None:
        if not self._ended and not self._closed:
            self._release(self._buffer)
            self._buffer = ""

    def end_input(self) -> None:
        if not self._ended and not self._closed:
            self.flush()
            self._ended = True
            self._pieces.put_nowait(None)

    def _release(self, piece: str) -> None:
        if piece.strip():
            self._owner.spoken.append(piece)
            self._pieces.put_nowait(piece)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._audio()

    async def _audio(self) -> AsyncIterator[bytes]:
        owner = self._owner
        knobs = owner.knobs
        chunk = owner.sample_rate * knobs.chunk_ms // 1000
        sent = 0
        first = True
        try:
            while not self._closed and (piece := await self._pieces.get()) is not None:
                if knobs.hang:
                    await _hang_forever()
                if first:
                    await asyncio.sleep(knobs.first_audio_latency)
                    first = False
                total = owner.samples_for(piece)
                for start in range(0, total, chunk):
                    if knobs.fail_after_chunks is not None and sent >= knobs.fail_after_chunks:
                        raise ProviderError("fake tts stream failure", provider=owner.name)
                    if sent and knobs.chunk_interval:
                        await asyncio.sleep(knobs.chunk_interval)
                    if self._closed:
                        return
                    sent += 1
                    yield tone(min(chunk, total - start), owner.sample_rate, offset=start)
        except asyncio.CancelledError:
            owner.cancelled += 1
            raise

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._ended = True
            self._owner.closed += 1
            self._pieces.put_nowait(None)


class FakeStreamingTTS(FakeTTS):
    """A ``FakeTTS`` that also takes a reply's text as a stream (``open_stream``)."""

    def __init__(
        self,
        sample_rate: int = 16_000,
        knobs: FakeTTSKnobs | None = None,
        name: str = "fake-tts-stream",
        stream_knobs: FakeStreamKnobs | None = None,
    ) -> None:
        super().__init__(sample_rate, knobs, name)
        self.stream_knobs = stream_knobs or FakeStreamKnobs()
        self.streams: list[FakeTTSTextStream] = []
        self.closed = 0

    async def open_stream(self) -> FakeTTSTextStream:
        await asyncio.sleep(self.stream_knobs.connect_latency)
        if self.stream_knobs.fail_at_open:
            raise ProviderError("fake tts stream refused", provider=self.name)
        stream = FakeTTSTextStream(self)
        self.streams.append(stream)
        return stream


def tone(samples: int, sample_rate: int, *, offset: int = 0, hz: float = 220.0) -> bytes:
    t = (np.arange(samples) + offset) / sample_rate
    wave = 8000.0 * np.sin(2.0 * math.pi * hz * t)
    return wave.astype(np.int16).tobytes()
