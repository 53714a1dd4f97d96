"""Streamed-text TTS over a fallback chain, and a streamed-text face for any TTS.

``SentenceTextStream`` lets a provider that only takes whole texts (the HTTP
adapters, the local voice) be fed text as the LLM writes it: sentences go to
``synthesize`` one after the other.

``FallbackTextStream`` keeps every character pushed. When the provider in use
fails, the next one gets the text from the resume point (``resume_index``,
as in ``FallbackTTS``) and then the rest as it arrives.

Both say which text their audio voices (``speech()``, see ``SpeechChunk``):
``SentenceTextStream`` marks where each sentence's audio ends;
``FallbackTextStream`` passes on its providers' marks in the reply's offsets,
says where a new provider resumes, and resumes at the word the failed one
had reached by its marks when it had any (by the slow estimate after them).

Deadlines: a provider cannot be expected to speak text it was not asked to
speak yet, so the first-byte deadline starts at the first ``flush()`` or
``end_input()``; between chunks the idle deadline applies once the input has
ended (before that the LLM itself may be pausing, e.g. for a tool call).
A provider that fails outright (socket closed, error message) is replaced at
once, whatever the deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from pipelines.fallback.chain import (
    Attempts,
    aclose_quietly,
)
from pipelines.fallback.tts import FallbackTTS, resume_index
from pipelines.providers.base import (
    AlignedTextStream,
    SpeechChunk,
    TextMark,
    TextStreamingTTS,
    TTSProvider,
    TTSTextStream,
)
from pipelines.text import SentenceAggregator

SAMPLE_WIDTH = 2


def speech_of(stream: TTSTextStream) -> AsyncIterator[SpeechChunk]:
    """The stream's audio as ``SpeechChunk``s, with marks where it has them."""
    if isinstance(stream, AlignedTextStream):
        return stream.speech()
    return _unmarked(stream)


async def _unmarked(stream: TTSTextStream) -> AsyncIterator[SpeechChunk]:
    chunks = aiter(stream)
    try:
        async for chunk in chunks:
            yield SpeechChunk(chunk)
    finally:
        await aclose_quietly(chunks)


async def open_text_stream(provider: TTSProvider) -> TTSTextStream:
    """The provider's own text stream if it has one, else sentence by sentence."""
    if isinstance(provider, TextStreamingTTS):
        return await provider.open_stream()
    return SentenceTextStream(provider)


class SentenceTextStream:
    """Streamed text in, whole sentences out to ``provider.synthesize``."""

    def __init__(self, provider: TTSProvider) -> None:
        self._provider = provider
        self._aggregator = SentenceAggregator()
        self._sentences: asyncio.Queue[str | None] = asyncio.Queue()
        self._ended = False
        self._closed = False
        # The text pushed, and how far into it the sentences queued so far reach.
        self._pushed = ""
        self._located = 0

    def push_text(self, text: str) -> None:
        if not self._ended:
            self._pushed += text
            for sentence in self._aggregator.push(text):
                self._sentences.put_nowait(sentence)

    def flush(self) -> None:
        if not self._ended and (rest := self._aggregator.flush()):
            self._sentences.put_nowait(rest)

    def end_input(self) -> None:
        if not self._ended:
            self.flush()
            self._ended = True
            self._sentences.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _audio_of(self.speech())

    async def speech(self) -> AsyncIterator[SpeechChunk]:
        while not self._closed and (sentence := await self._sentences.get()) is not None:
            end = self._locate(sentence)
            chunks = self._provider.synthesize(sentence)
            try:
                async for chunk in chunks:
                    if self._closed:
                        return
                    if chunk:
                        yield SpeechChunk(chunk, upto=end)
            finally:
                await aclose_quietly(chunks)
            if end is not None and not self._closed:
                yield SpeechChunk(marks=(TextMark(end, 0.0),))

    def _locate(self, sentence: str) -> int | None:
        """Where ``sentence`` (stripped by the aggregator) ends in the text pushed."""
        at = self._pushed.find(sentence, self._located)
        if at < 0:
            return None
        self._located = at + len(sentence)
        return self._located

    async def aclose(self) -> None:
        self._closed = True
        self._ended = True
        self._sentences.put_nowait(None)


class FallbackTextStream:
    def __init__(self, chain: FallbackTTS) -> None:
        self._chain = chain
        self._pushed = ""
        # Where in ``_pushed`` the current provider's text starts.
        self._offset = 0
        self._inner: TTSTextStream | None = None
        self._demand_at: float | None = None
        self._ended_at: float | None = None
        self._closed = False
        self._wake = asyncio.Event()

    # ------------------------------------------------------------ input

    def push_text(self, text: str) -> None:
        if self._closed or self._ended_at is not None or not text:
            return
        self._pushed += text
        if self._inner is not None:
            self._inner.push_text(text)

    def flush(self) -> None:
        if self._closed or self._ended_at is not None:
            return
        self._arm()
        if self._inner is not None:
            self._inner.flush()

    def end_input(self) -> None:
        if self._closed or self._ended_at is not None:
            return
        self._arm()
        self._ended_at = asyncio.get_running_loop().time()
        self._wake.set()
        if self._inner is not None:
            self._inner.end_input()

    def _arm(self) -> None:
        if self._demand_at is None:
            self._demand_at = asyncio.get_running_loop().time()
            self._wake.set()

    # ------------------------------------------------------------ output

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _audio_of(self.speech())

    async def speech(self) -> AsyncIterator[SpeechChunk]:
        chain = self._chain
        attempts = Attempts("tts", chain.providers, chain.breaker, chain.on_failover)
        bytes_per_second = chain.sample_rate * SAMPLE_WIDTH
        switched = False
        for provider in attempts:
            if self._closed:
                return
            reach = _Reach(bytes_per_second)
            inner: TTSTextStream | None = None
            chunks: AsyncIterator[SpeechChunk] | None = None
            try:
                async with asyncio.timeout(chain.first_byte_timeout):
                    inner = await open_text_stream(provider)
                self._start(inner)
                if switched:
                    yield SpeechChunk(resumes_at=self._offset)
                chunks = speech_of(inner)
                while True:
                    try:
                        chunk = await self._next(chunks, started=reach.sent > 0)
                    except StopAsyncIteration:
                        break
                    if self._closed or not (chunk.audio or chunk.marks):
                        continue
                    reach.passed(chunk)
                    yield _shifted(chunk, self._offset)
            except Exception as exc:
                remaining = self._pushed[self._offset :]
                cut = reach.resume_index(remaining, chain.chars_per_second)
                self._offset += cut
                switched = True
                attempts.failed(provider, exc, remaining[cut:])
                if self._ended_at is not None and not self._pushed[self._offset :].strip():
                    return
                continue
            finally:
                self._inner = None
                if chunks is not None:
                    await aclose_quietly(chunks)
                if inner is not None:
                    await aclose_quietly(inner)
            attempts.succeeded(provider)
            return
        raise attempts.exhausted()

    def _start(self, inner: TTSTextStream) -> None:
        """Give a freshly opened provider everything it missed, then go live."""
        self._inner = inner
        if self._demand_at is not None:
            # Its first-byte deadline runs from now, not from the failed provider's start.
            self._demand_at = asyncio.get_running_loop().time()
        text = self._pushed[self._offset :]
        if text:
            inner.push_text(text)
        if self._demand_at is not None:
            inner.flush()
        if self._ended_at is not None:
            inner.end_input()

    def _deadline(self, started: bool) -> float | None:
        chain = self._chain
        if not started:
            if self._demand_at is None:
                return None
            return self._demand_at + chain.first_byte_timeout
        if self._ended_at is None or chain.idle_timeout is None:
            return None
        return max(self._ended_at, asyncio.get_running_loop().time()) + chain.idle_timeout

    async def _next(self, chunks: AsyncIterator[SpeechChunk], *, started: bool) -> SpeechChunk:
        """The next chunk, or TimeoutError once the deadline in force has passed."""
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(anext(chunks))
        deadline = self._deadline(started)
        try:
            while True:
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise TimeoutError
                    done, _ = await asyncio.wait({task}, timeout=remaining)
                    if task in done:
                        return task.result()
                    continue
                # No deadline yet: wait for the chunk or for a flush/end that sets one.
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                if task.done():
                    return task.result()
                deadline = self._deadline(started)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def aclose(self) -> None:
        self._closed = True
        self._wake.set()
        inner, self._inner = self._inner, None
        if inner is not None:
            await aclose_quietly(inner)


class _Reach:
    """How far one provider's audio, as passed on, got into its text."""

    def __init__(self, bytes_per_second: int) -> None:
        self._bytes_per_ms = bytes_per_second / 1000
        self.sent = 0
        # Offset voiced in full by the audio passed on, and the byte where it ends.
        self._voiced = 0
        self._voiced_at = 0
        self._pending: list[tuple[float, int]] = []

    def passed(self, chunk: SpeechChunk) -> None:
        start = self.sent
        self.sent += len(chunk.audio)
        for mark in chunk.marks:
            self._pending.append((start + mark.at_ms * self._bytes_per_ms, mark.offset))
        waiting: list[tuple[float, int]] = []
        for at, offset in self._pending:
            if at <= self.sent:
                if offset > self._voiced:
                    self._voiced, self._voiced_at = offset, round(at)
            else:
                waiting.append((at, offset))
        self._pending = waiting

    def resume_index(self, text: str, chars_per_second: float) -> int:
        """Where the next provider starts in ``text``: at the word reached by the
        marks, moved on by the slow estimate for the audio passed on after them."""
        base = _word_start(text, min(self._voiced, len(text)))
        seconds = max(0, self.sent - self._voiced_at) / (self._bytes_per_ms * 1000)
        return base + resume_index(text[base:], seconds, chars_per_second)


def _word_start(text: str, at: int) -> int:
    """``at`` if it is at a word edge, else the start of the word it falls in."""
    if at <= 0 or at >= len(text) or text[at - 1].isspace() or text[at].isspace():
        return at
    while at > 0 and not text[at - 1].isspace():
        at -= 1
    return at


def _shifted(chunk: SpeechChunk, by: int) -> SpeechChunk:
    """``chunk`` with its provider's offsets moved to the reply's."""
    if not by or not (chunk.marks or chunk.upto is not None):
        return chunk
    return SpeechChunk(
        chunk.audio,
        tuple(TextMark(m.offset + by, m.at_ms) for m in chunk.marks),
        None if chunk.upto is None else chunk.upto + by,
    )


async def _audio_of(chunks: AsyncIterator[SpeechChunk]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            if chunk.audio:
                yield chunk.audio
    finally:
        await aclose_quietly(chunks)
