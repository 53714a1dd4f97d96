"""Fallback chains and the circuit breaker, against in-process fake providers.

The fakes here have fault knobs (fail at connect, fail after N items, hang,
stall); the wire-level versions of these faults, through the real SDKs, are
in tests/pipelines/providers/cloud/test_cloud_failover.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence

import numpy as np
import pytest

from media.frames import AudioFrame
from pipelines.errors import (
    ConfigError,
    InvalidTransition,
    ProviderError,
    ProviderStatusError,
)
from pipelines.fallback import (
    CONTINUE_INSTRUCTION,
    BreakerState,
    CircuitBreaker,
    Failover,
    FallbackLLM,
    FallbackSTT,
    FallbackTTS,
    PrefixStripper,
    resume_index,
)
from pipelines.fallback.breaker import _ALLOWED, _Circuit
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

REPLY = "Hello there, how can I help you today?"
SLACK = 0.1  # the bound: the fallback answers within the deadline plus 100 ms


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- fake LLM


class ScriptLLM:
    def __init__(
        self,
        name: str,
        reply: str = REPLY,
        *,
        fail_after: int | None = None,
        error: Exception | None = None,
        hang: bool = False,
        stall_after: int | None = None,
        repeat_prefix: bool = False,
        tool: ToolCall | None = None,
    ) -> None:
        self.name = name
        self.reply = reply
        self.fail_after = fail_after
        self.error = error or ProviderStatusError(f"{name}: HTTP 503", status=503, provider=name)
        self.hang = hang
        self.stall_after = stall_after
        self.repeat_prefix = repeat_prefix
        self.tool = tool
        self.contexts: list[list[ChatMessage]] = []
        self.closed = 0

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[LLMEvent]:
        self.contexts.append(list(messages))
        try:
            if self.hang:
                await asyncio.Event().wait()
            reply = self.reply
            last = messages[-1]
            if last.role == "assistant" and not self.repeat_prefix:
                reply = reply.removeprefix(last.content)
            for i, token in enumerate(re.findall(r"\s*\S+", reply)):
                if self.fail_after is not None and i >= self.fail_after:
                    raise self.error
                if self.stall_after is not None and i >= self.stall_after:
                    await asyncio.Event().wait()
                yield TextDelta(token)
                await asyncio.sleep(0)
            if self.tool is not None:
                yield ToolCallEvent(self.tool)
                if self.fail_after is not None:
                    raise self.error
            yield LLMUsage(5, 9)
        finally:
            self.closed += 1


async def collect(llm: FallbackLLM, messages: Sequence[ChatMessage]) -> list[LLMEvent]:
    return [event async for event in llm.stream(messages)]


def text_of(events: Sequence[LLMEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


USER = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hi!")]


async def test_llm_first_provider_answers_alone() -> None:
    a, b = ScriptLLM("a"), ScriptLLM("b")
    events = await collect(FallbackLLM([a, b], first_token_timeout=1.0), USER)
    assert text_of(events) == REPLY
    assert events[-1] == LLMUsage(5, 9)
    assert b.contexts == []


async def test_llm_connect_failure_moves_to_next_with_same_context() -> None:
    failures: list[Failover] = []
    a, b = ScriptLLM("a", fail_after=0), ScriptLLM("b")
    llm = FallbackLLM([a, b], first_token_timeout=1.0, on_failover=failures.append)
    assert text_of(await collect(llm, USER)) == REPLY
    assert b.contexts == [USER]
    assert [f.provider for f in failures] == ["a"]
    assert failures[0].error.retryable


@pytest.mark.parametrize("repeat_prefix", [False, True])
async def test_llm_mid_stream_failure_continues_without_repetition(repeat_prefix: bool) -> None:
    a = ScriptLLM("a", fail_after=3)
    b = ScriptLLM("b", repeat_prefix=repeat_prefix)
    events = await collect(FallbackLLM([a, b], first_token_timeout=1.0), USER)
    assert text_of(events) == REPLY  # said once, whether or not b honoured the prefill
    heard = "Hello there, how"
    assert b.contexts[0][:2] == USER
    assert b.contexts[0][2:] == [
        ChatMessage("system", CONTINUE_INSTRUCTION),
        ChatMessage("assistant", heard),
    ]


async def test_llm_first_token_timeout_switches_within_deadline() -> None:
    a, b = ScriptLLM("a", hang=True), ScriptLLM("b")
    llm = FallbackLLM([a, b], first_token_timeout=0.2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    first_at = None
    events: list[LLMEvent] = []
    async for event in llm.stream(USER):
        first_at = first_at or loop.time()
        events.append(event)
    assert first_at is not None and first_at - start <= 0.2 + SLACK
    assert text_of(events) == REPLY
    assert a.closed == 1  # the hung stream was closed, not leaked


async def test_llm_stall_mid_stream_uses_idle_timeout() -> None:
    a, b = ScriptLLM("a", stall_after=2), ScriptLLM("b")
    llm = FallbackLLM([a, b], first_token_timeout=1.0, idle_timeout=0.15)
    assert text_of(await collect(llm, USER)) == REPLY


async def test_llm_non_retryable_error_fails_over_and_opens_breaker_at_once() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=5, reset_after=30, clock=clock)
    bad_key = ProviderStatusError("a: HTTP 401", status=401, provider="a")
    a, b = ScriptLLM("a", fail_after=0, error=bad_key), ScriptLLM("b")
    llm = FallbackLLM([a, b], first_token_timeout=1.0, breaker=breaker)
    assert text_of(await collect(llm, USER)) == REPLY
    assert breaker.state("a") is BreakerState.OPEN
    await collect(llm, USER)
    assert len(a.contexts) == 1  # skipped while open
    clock.now += 30
    a.fail_after = None
    await collect(llm, USER)
    assert len(a.contexts) == 2  # half-open trial went through and closed the circuit
    assert breaker.state("a") is BreakerState.CLOSED


async def test_llm_every_provider_failing_raises_one_error() -> None:
    a, b = ScriptLLM("a", fail_after=0), ScriptLLM("b", fail_after=0)
    with pytest.raises(ProviderError, match="every llm provider failed") as info:
        await collect(FallbackLLM([a, b], first_token_timeout=1.0), USER)
    assert info.value.retryable


async def test_llm_all_circuits_open_still_tries_them() -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_after=60, clock=FakeClock())
    breaker.record_failure("a")
    breaker.record_failure("b")
    a, b = ScriptLLM("a"), ScriptLLM("b")
    llm = FallbackLLM([a, b], first_token_timeout=1.0, breaker=breaker)
    assert text_of(await collect(llm, USER)) == REPLY
    assert breaker.state("a") is BreakerState.CLOSED


async def test_llm_failure_after_tool_call_does_not_ask_again() -> None:
    call = ToolCall("call_1", "lookup", "{}")
    a = ScriptLLM("a", reply="", tool=call, fail_after=99)
    b = ScriptLLM("b")
    events = await collect(FallbackLLM([a, b], first_token_timeout=1.0), USER)
    assert events == [ToolCallEvent(call)]
    assert b.contexts == []


async def test_llm_consumer_closing_early_closes_the_provider_stream() -> None:
    a = ScriptLLM("a")
    stream = FallbackLLM([a], first_token_timeout=1.0).stream(USER)
    assert await anext(stream) == TextDelta("Hello")
    await stream.aclose()  # type: ignore[attr-defined]
    assert a.closed == 1


def test_llm_chain_needs_distinct_providers() -> None:
    with pytest.raises(ConfigError):
        FallbackLLM([], first_token_timeout=1.0)
    with pytest.raises(ConfigError):
        FallbackLLM([ScriptLLM("a"), ScriptLLM("a")], first_token_timeout=1.0)


@pytest.mark.parametrize(
    ("prefix", "pieces", "expected"),
    [
        ("Hello there,", [" how", " are"], " how are"),  # a true continuation
        ("Hello there,", ["Hello", " there,", " how"], " how"),  # a full repeat
        ("Hello there, ", ["Hello  there, how"], "how"),  # whitespace runs match
        ("Hello there, ", [" how"], "how"),  # no double space after heard text
        ("Hello there,", ["Hello", " world"], "Hello world"),  # diverges: all passes
        ("Hello there,", ["Hel"], ""),  # a strict repeat of the start: dropped
    ],
)
def test_prefix_stripper(prefix: str, pieces: list[str], expected: str) -> None:
    stripper = PrefixStripper(prefix)
    assert "".join(stripper.feed(p) for p in pieces) == expected


# ---------------------------------------------------------------- circuit breaker


def test_breaker_opens_after_threshold_and_half_opens_after_reset() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_after=10, clock=clock)
    breaker.record_failure("x")
    assert breaker.allow("x")
    breaker.record_failure("x")
    assert breaker.state("x") is BreakerState.OPEN
    assert not breaker.allow("x")
    clock.now += 9.9
    assert not breaker.allow("x")
    clock.now += 0.1
    assert breaker.state("x") is BreakerState.HALF_OPEN
    assert breaker.allow("x")  # the one trial
    assert not breaker.allow("x")  # no second concurrent trial
    breaker.record_failure("x")
    assert breaker.state("x") is BreakerState.OPEN
    clock.now += 10
    assert breaker.allow("x")
    breaker.record_success("x")
    assert breaker.state("x") is BreakerState.CLOSED


def test_breaker_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_after=10, clock=FakeClock())
    breaker.record_failure("x")
    breaker.record_success("x")
    breaker.record_failure("x")
    assert breaker.state("x") is BreakerState.CLOSED


def test_breaker_non_retryable_opens_immediately() -> None:
    breaker = CircuitBreaker(failure_threshold=5, reset_after=10, clock=FakeClock())
    breaker.record_failure("x", retryable=False)
    assert breaker.state("x") is BreakerState.OPEN


def test_breaker_rejects_bad_config_and_bad_transitions() -> None:
    with pytest.raises(ConfigError):
        CircuitBreaker(failure_threshold=0)
    assert BreakerState.CLOSED not in _ALLOWED[BreakerState.OPEN]
    with pytest.raises(InvalidTransition):
        CircuitBreaker._move(_Circuit(), BreakerState.HALF_OPEN)


# ---------------------------------------------------------------- fake TTS

RATE = 16_000
CHAR_SAMPLES = 1000  # 16 chars per second of fake speech


def speak(text: str) -> bytes:
    return np.repeat(np.array([ord(c) for c in text], dtype=np.int16), CHAR_SAMPLES).tobytes()


def hear(pcm: bytes) -> str:
    samples = np.frombuffer(pcm, dtype=np.int16)
    return "".join(chr(int(v)) for v in samples[::CHAR_SAMPLES])


class FakeTTS:
    def __init__(
        self,
        name: str,
        *,
        fail_after: int | None = None,
        hang: bool = False,
        sample_rate: int = RATE,
        chunk_chars: int = 4,
    ) -> None:
        self.name = name
        self.sample_rate = sample_rate
        self.fail_after = fail_after
        self.hang = hang
        self.chunk = chunk_chars * CHAR_SAMPLES * 2
        self.texts: list[str] = []

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        self.texts.append(text)
        if self.hang:
            await asyncio.Event().wait()
        pcm = speak(text)
        for i, start in enumerate(range(0, len(pcm), self.chunk)):
            if self.fail_after is not None and i >= self.fail_after:
                raise ProviderError(f"{self.name}: connection lost", provider=self.name)
            yield pcm[start : start + self.chunk]
            await asyncio.sleep(0)


SENTENCE = "The weather in Paris is sunny and warm today."


async def test_tts_mid_sentence_failure_resumes_from_the_interrupted_word() -> None:
    a, b = FakeTTS("a", fail_after=5), FakeTTS("b")
    tts = FallbackTTS([a, b], first_byte_timeout=1.0, chars_per_second=12.0)
    chunks = [c async for c in tts.synthesize(SENTENCE)]
    heard_a = hear(b"".join(chunks[:5]))
    assert heard_a == SENTENCE[:20]
    cut = resume_index(SENTENCE, 20 / 16, 12.0)  # 1.25 s heard -> 15 chars estimated
    assert SENTENCE[cut:] == "Paris is sunny and warm today."  # restart at the word in progress
    assert b.texts == [SENTENCE[cut:]]
    assert hear(b"".join(chunks[5:])) == SENTENCE[cut:]
    # Nothing skipped; what is said twice is only the words since the cut.
    assert heard_a[:cut] + hear(b"".join(chunks[5:])) == SENTENCE
    assert heard_a[cut:] == "Paris"


async def test_tts_first_byte_timeout_gives_whole_text_to_next() -> None:
    a, b = FakeTTS("a", hang=True), FakeTTS("b")
    tts = FallbackTTS([a, b], first_byte_timeout=0.2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    stream = tts.synthesize(SENTENCE)
    first = await anext(stream)
    assert loop.time() - start <= 0.2 + SLACK
    rest = [c async for c in stream]
    assert hear(first + b"".join(rest)) == SENTENCE
    assert b.texts == [SENTENCE]


async def test_tts_connect_failure_and_all_failed() -> None:
    a, b = FakeTTS("a", fail_after=0), FakeTTS("b", fail_after=0)
    with pytest.raises(ProviderError, match="every tts provider failed"):
        _ = [c async for c in FallbackTTS([a, b]).synthesize("Hi.")]
    assert a.texts == b.texts == ["Hi."]


def test_tts_providers_must_share_a_sample_rate() -> None:
    with pytest.raises(ConfigError):
        FallbackTTS([FakeTTS("a"), FakeTTS("b", sample_rate=24_000)])


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0.0, 0), (0.1, 0), (0.3, 0), (0.5, 4), (0.7, 8), (10.0, 8)],
)
def test_resume_index(seconds: float, expected: int) -> None:
    # "The cat sat" at 12 chars/s: 0.5 s -> char 6, inside "cat" -> restart at 4;
    # 0.3 s -> char 3, a word edge -> the word before ("The") may be unfinished -> 0.
    assert resume_index("The cat sat", seconds, 12.0) == expected


# ---------------------------------------------------------------- fake STT


class CountingSTTStream:
    """Final text says how many frames it heard since the last flush."""

    def __init__(self, owner: FakeSTT) -> None:
        self.owner = owner
        self.frames = 0
        self.total = 0
        self.out: asyncio.Queue[Transcript | Exception | None] = asyncio.Queue()
        self.closed = False

    def push_frame(self, frame: AudioFrame) -> None:
        self.frames += 1
        self.total += 1
        if self.owner.fail_after_frames is not None and self.total >= self.owner.fail_after_frames:
            self.out.put_nowait(ProviderError(f"{self.owner.name}: socket dropped"))

    def flush(self) -> None:
        if self.owner.hang_final:
            return
        self.out.put_nowait(Transcript(f"{self.owner.name}:{self.frames}", True))
        self.frames = 0

    def __aiter__(self) -> AsyncIterator[Transcript]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Transcript]:
        while True:
            item = await self.out.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    async def aclose(self) -> None:
        self.closed = True
        self.out.put_nowait(None)


class FakeSTT:
    def __init__(
        self,
        name: str,
        *,
        connect_error: bool = False,
        connect_hang: bool = False,
        fail_after_frames: int | None = None,
        hang_final: bool = False,
        sample_rate: int = RATE,
    ) -> None:
        self.name = name
        self.sample_rate = sample_rate
        self.connect_error = connect_error
        self.connect_hang = connect_hang
        self.fail_after_frames = fail_after_frames
        self.hang_final = hang_final
        self.streams: list[CountingSTTStream] = []

    async def open_stream(self, *, language: str = "en") -> CountingSTTStream:
        if self.connect_hang:
            await asyncio.Event().wait()
        if self.connect_error:
            raise ProviderStatusError(f"{self.name}: HTTP 503", status=503, provider=self.name)
        stream = CountingSTTStream(self)
        self.streams.append(stream)
        return stream


def frame() -> AudioFrame:
    return AudioFrame.silence()


async def next_final(stream: AsyncIterator[Transcript]) -> Transcript:
    async for t in stream:
        if t.is_final:
            return t
    raise AssertionError("stream ended without a final")


async def test_stt_connect_failure_uses_next_provider() -> None:
    chain = FallbackSTT([FakeSTT("a", connect_error=True), FakeSTT("b")], connect_timeout=1.0)
    stream = await chain.open_stream()
    for _ in range(4):
        stream.push_frame(frame())
    stream.flush()
    assert (await next_final(aiter(stream))).text == "b:4"
    assert stream.provider_name == "b"
    await stream.aclose()


async def test_stt_connect_hang_switches_within_deadline() -> None:
    loop = asyncio.get_running_loop()
    chain = FallbackSTT([FakeSTT("a", connect_hang=True), FakeSTT("b")], connect_timeout=0.2)
    start = loop.time()
    stream = await chain.open_stream()
    assert loop.time() - start <= 0.2 + SLACK
    assert stream.provider_name == "b"
    await stream.aclose()


async def test_stt_mid_stream_failure_replays_the_utterance() -> None:
    a, b = FakeSTT("a", fail_after_frames=6), FakeSTT("b")
    stream = await FallbackSTT([a, b], connect_timeout=1.0).open_stream()
    it = aiter(stream)
    for _ in range(3):
        stream.push_frame(frame())
    stream.flush()
    assert (await next_final(it)).text == "a:3"
    for _ in range(5):  # a dies at its 6th frame
        stream.push_frame(frame())
        await asyncio.sleep(0)
    stream.flush()
    # b heard the 5 frames since a's last final, not the 3 a already transcribed.
    assert (await next_final(it)).text == "b:5"
    assert a.streams[0].closed
    await stream.aclose()


async def test_stt_missing_final_times_out_and_next_provider_answers() -> None:
    loop = asyncio.get_running_loop()
    a, b = FakeSTT("a", hang_final=True), FakeSTT("b")
    stream = await FallbackSTT([a, b], connect_timeout=1.0, final_timeout=0.2).open_stream()
    for _ in range(7):
        stream.push_frame(frame())
    start = loop.time()
    stream.flush()
    final = await next_final(aiter(stream))
    assert loop.time() - start <= 0.2 + SLACK
    assert final.text == "b:7"
    await stream.aclose()


async def test_stt_every_provider_failing_at_connect_raises() -> None:
    chain = FallbackSTT([FakeSTT("a", connect_error=True), FakeSTT("b", connect_error=True)])
    with pytest.raises(ProviderError, match="every stt provider failed"):
        await chain.open_stream()


async def test_stt_rejects_wrong_rate_and_mismatched_chain() -> None:
    with pytest.raises(ConfigError):
        FallbackSTT([FakeSTT("a"), FakeSTT("b", sample_rate=8000)])
    stream = await FallbackSTT([FakeSTT("a")]).open_stream()
    with pytest.raises(ValueError, match="16000 Hz"):
        stream.push_frame(AudioFrame.silence(sample_rate=8000))
    await stream.aclose()
