"""Each stage's provider failing at connect, mid-stream and by timeout, through the
real SDKs against wire fakes: the call goes on with the next provider, within
the deadline plus 100 ms, and what the user hears is never repeated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from media.frames import AudioFrame, Reframer
from pipelines.errors import ProviderError
from pipelines.fallback import CONTINUE_INSTRUCTION, Failover, FallbackLLM, FallbackSTT, FallbackTTS
from pipelines.providers.base import ChatMessage, LLMEvent, STTStream, TextDelta, Transcript
from pipelines.providers.cloud import (
    AnthropicLLM,
    DeepgramSTT,
    DeepgramTTS,
    ElevenLabsTTS,
    OpenAILLM,
    OpenAISTT,
)
from tests.fakes import TEST_API_KEY as API_KEY
from tests.fakes import AnthropicFake, DeepgramFake, ElevenLabsFake, OpenAIFake
from tests.fakes.audio import decode_text, speech

SLACK = 0.1  # the bound: deadline plus 100 ms
REPLY = "Hello there, how can I help you today?"
HISTORY = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hi!")]


# ---------------------------------------------------------------- LLM


@pytest.fixture
async def llm_chain(
    openai_fake: OpenAIFake, anthropic_fake: AnthropicFake
) -> AsyncIterator[tuple[OpenAILLM, AnthropicLLM]]:
    a = OpenAILLM(api_key=API_KEY, base_url=f"{openai_fake.http_url}/v1", timeout=5.0)
    b = AnthropicLLM(api_key=API_KEY, base_url=anthropic_fake.http_url, timeout=5.0)
    yield a, b
    await a.aclose()
    await b.aclose()


async def timed_text(llm: FallbackLLM) -> tuple[str, float]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    first: float | None = None
    text = ""
    events: list[LLMEvent] = []
    async for event in llm.stream(HISTORY):
        events.append(event)
        if isinstance(event, TextDelta):
            first = first or loop.time()
            text += event.text
    assert first is not None
    return text, first - start


async def test_llm_fails_at_connect(
    llm_chain: tuple[OpenAILLM, AnthropicLLM], openai_fake: OpenAIFake
) -> None:
    openai_fake.knobs.error_status = 503
    text, _ = await timed_text(FallbackLLM(llm_chain, first_token_timeout=1.0))
    assert text == REPLY


async def test_llm_fails_mid_stream_and_anthropic_continues_the_sentence(
    llm_chain: tuple[OpenAILLM, AnthropicLLM],
    openai_fake: OpenAIFake,
    anthropic_fake: AnthropicFake,
) -> None:
    openai_fake.knobs.disconnect_after = 3
    seen: list[Failover] = []
    text, _ = await timed_text(
        FallbackLLM(llm_chain, first_token_timeout=1.0, on_failover=seen.append)
    )
    assert text == REPLY  # "Hello there, how" once, then the rest
    body = anthropic_fake.requests[-1].body
    assert CONTINUE_INSTRUCTION in body["system"]
    assert body["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello there, how"}],
    }
    assert [f.provider for f in seen] == ["openai"] and seen[0].carried_text == "Hello there, how"


async def test_llm_fallback_that_starts_over_is_not_repeated(
    openai_fake: OpenAIFake, openai_fake_b: OpenAIFake
) -> None:
    openai_fake.knobs.disconnect_after = 4
    openai_fake_b.script.repeat_prefix = True  # ignores the prefill, says it all again
    a = OpenAILLM(api_key=API_KEY, base_url=f"{openai_fake.http_url}/v1", name="a")
    b = OpenAILLM(api_key=API_KEY, base_url=f"{openai_fake_b.http_url}/v1", name="b")
    text, _ = await timed_text(FallbackLLM([a, b], first_token_timeout=1.0))
    assert text == REPLY
    assert openai_fake_b.requests[-1].body["messages"][-1] == {
        "role": "assistant",
        "content": "Hello there, how can",
    }
    await a.aclose()
    await b.aclose()


async def test_llm_first_token_timeout(
    llm_chain: tuple[OpenAILLM, AnthropicLLM], openai_fake: OpenAIFake
) -> None:
    openai_fake.knobs.hang = True
    text, first = await timed_text(FallbackLLM(llm_chain, first_token_timeout=0.25))
    assert text == REPLY
    assert first <= 0.25 + SLACK


async def test_llm_stall_after_tokens(
    llm_chain: tuple[OpenAILLM, AnthropicLLM], openai_fake: OpenAIFake
) -> None:
    openai_fake.knobs.token_interval = 2.0  # first token, then a long silence
    llm = FallbackLLM(llm_chain, first_token_timeout=1.0, idle_timeout=0.2)
    text, _ = await timed_text(llm)
    assert text == REPLY


# ---------------------------------------------------------------- STT


@pytest.fixture
async def stt_chain(
    deepgram_fake: DeepgramFake, openai_fake: OpenAIFake
) -> AsyncIterator[tuple[DeepgramSTT, OpenAISTT]]:
    a = DeepgramSTT(api_key=API_KEY, base_url=deepgram_fake.http_url, connect_timeout=5.0)
    b = OpenAISTT(api_key=API_KEY, base_url=f"{openai_fake.http_url}/v1")
    yield a, b
    await b.aclose()


def push(stream: STTStream, pcm: bytes) -> None:
    for chunk in Reframer().push(pcm):
        stream.push_frame(AudioFrame(chunk))


async def final_of(stream: STTStream) -> Transcript:
    async with asyncio.timeout(3.0):  # a guard against a hung test
        async for t in stream:
            if t.is_final:
                return t
    raise AssertionError("no final")


async def test_stt_fails_at_connect(
    stt_chain: tuple[DeepgramSTT, OpenAISTT], deepgram_fake: DeepgramFake
) -> None:
    deepgram_fake.knobs.error_status = 503
    stream = await FallbackSTT(stt_chain, connect_timeout=1.0).open_stream()
    push(stream, speech(0.5))
    stream.flush()
    assert (await final_of(stream)).text == "what is the weather"
    await stream.aclose()


async def test_stt_drop_mid_utterance_replays_audio_to_next(
    stt_chain: tuple[DeepgramSTT, OpenAISTT], deepgram_fake: DeepgramFake, openai_fake: OpenAIFake
) -> None:
    stream = await FallbackSTT(stt_chain, connect_timeout=1.0).open_stream()
    push(stream, speech(0.4))
    stream.flush()
    assert (await final_of(stream)).text == "hello world"  # deepgram's
    deepgram_fake.knobs.disconnect_after = 0  # the socket dies on its next message
    push(stream, speech(0.6))
    await asyncio.sleep(0.1)
    stream.flush()
    final = await final_of(stream)
    assert final.text == "what is the weather"  # openai's, from the replayed audio
    assert final.audio_seconds == pytest.approx(0.6)  # not the 0.4 s already transcribed
    await stream.aclose()


async def test_stt_connect_hang(
    stt_chain: tuple[DeepgramSTT, OpenAISTT], deepgram_fake: DeepgramFake
) -> None:
    deepgram_fake.knobs.hang = True
    loop = asyncio.get_running_loop()
    start = loop.time()
    stream = await FallbackSTT(stt_chain, connect_timeout=0.25).open_stream()
    assert loop.time() - start <= 0.25 + SLACK
    push(stream, speech(0.3))
    stream.flush()
    assert (await final_of(stream)).text == "what is the weather"
    await stream.aclose()


async def test_stt_final_timeout(
    stt_chain: tuple[DeepgramSTT, OpenAISTT], deepgram_fake: DeepgramFake
) -> None:
    deepgram_fake.knobs.token_interval = 5.0  # results crawl: the final comes too late
    stream = await FallbackSTT(stt_chain, connect_timeout=1.0, final_timeout=0.25).open_stream()
    push(stream, speech(0.4))
    loop = asyncio.get_running_loop()
    start = loop.time()
    stream.flush()
    final = await final_of(stream)
    # the deadline, plus one fake transcription round trip on the fallback
    assert loop.time() - start <= 0.25 + SLACK + 0.1
    assert final.text == "what is the weather" and final.audio_seconds == pytest.approx(0.4)
    await stream.aclose()


# ---------------------------------------------------------------- TTS

SENTENCE = "The weather in Paris is sunny and warm today, with a light breeze."


@pytest.fixture
async def tts_chain(
    elevenlabs_fake: ElevenLabsFake, deepgram_fake: DeepgramFake
) -> AsyncIterator[tuple[ElevenLabsTTS, DeepgramTTS]]:
    a = ElevenLabsTTS(
        api_key=API_KEY, voice_id="voice-1", base_url=elevenlabs_fake.http_url, sample_rate=16_000
    )
    b = DeepgramTTS(api_key=API_KEY, base_url=deepgram_fake.http_url, sample_rate=16_000)
    yield a, b
    await a.aclose()
    await b.aclose()


async def test_tts_fails_at_connect(
    tts_chain: tuple[ElevenLabsTTS, DeepgramTTS], elevenlabs_fake: ElevenLabsFake
) -> None:
    elevenlabs_fake.knobs.error_status = 500
    audio = b"".join([c async for c in FallbackTTS(tts_chain).synthesize(SENTENCE)])
    assert decode_text(audio, 16_000) == SENTENCE


async def test_tts_mid_sentence_resumes_without_skipping(
    tts_chain: tuple[ElevenLabsTTS, DeepgramTTS],
    elevenlabs_fake: ElevenLabsFake,
    deepgram_fake: DeepgramFake,
) -> None:
    elevenlabs_fake.chunk_bytes = 8000  # 0.25 s of fake speech: four characters
    elevenlabs_fake.knobs.disconnect_after = 5  # then the connection drops
    tts = FallbackTTS(tts_chain, first_byte_timeout=1.0)
    audio_a = b""
    audio_b = b""
    async for chunk in tts.synthesize(SENTENCE):
        if not deepgram_fake.requests:
            audio_a += chunk
        else:
            audio_b += chunk
    heard_a = decode_text(audio_a, 16_000)
    said_again = deepgram_fake.requests[-1].body["text"]
    assert heard_a == SENTENCE[:20]  # 5 chunks x 4 characters
    assert said_again == SENTENCE[15:]  # from the start of "Paris", the word in progress
    assert decode_text(audio_b, 16_000) == said_again
    assert heard_a[: len(SENTENCE) - len(said_again)] + said_again == SENTENCE  # nothing skipped


async def test_tts_first_byte_timeout(
    tts_chain: tuple[ElevenLabsTTS, DeepgramTTS], elevenlabs_fake: ElevenLabsFake
) -> None:
    elevenlabs_fake.knobs.hang = True
    loop = asyncio.get_running_loop()
    start = loop.time()
    stream = FallbackTTS(tts_chain, first_byte_timeout=0.25).synthesize(SENTENCE)
    first = await anext(stream)
    assert loop.time() - start <= 0.25 + SLACK
    rest = b"".join([c async for c in stream])
    assert decode_text(first + rest, 16_000) == SENTENCE


async def test_every_tts_failing_raises_with_reasons(
    tts_chain: tuple[ElevenLabsTTS, DeepgramTTS],
    elevenlabs_fake: ElevenLabsFake,
    deepgram_fake: DeepgramFake,
) -> None:
    elevenlabs_fake.knobs.error_status = 401
    deepgram_fake.knobs.error_status = 401
    with pytest.raises(
        ProviderError, match=r"elevenlabs: HTTP 401.*deepgram-tts: HTTP 401"
    ) as info:
        _ = [c async for c in FallbackTTS(tts_chain).synthesize(SENTENCE)]
    assert not info.value.retryable
