"""Deepgram live STT and OpenAI-compatible transcription against their wire fakes."""

from __future__ import annotations

import asyncio
import io
import itertools
import wave
from collections.abc import AsyncIterator

import pytest

from media.frames import AudioFrame, Reframer
from pipelines.errors import ProviderError, ProviderStatusError, ProviderTimeout
from pipelines.providers.base import STTStream, Transcript
from pipelines.providers.cloud import DeepgramSTT, OpenAISTT
from pipelines.providers.cloud.openai_stt import pcm_to_wav
from tests.fakes import TEST_API_KEY as API_KEY
from tests.fakes import DeepgramFake, OpenAIFake
from tests.fakes.audio import silence, speech

FINAL_WAIT = 2.0  # a guard against a hung test, not a speed assertion


def push(stream: STTStream, pcm: bytes) -> None:
    for chunk in Reframer().push(pcm):
        stream.push_frame(AudioFrame(chunk))


async def stream_audio(stream: STTStream, pcm: bytes) -> None:
    """Push 20 ms frames with a pause between, so the socket sends several messages."""
    for chunk in Reframer().push(pcm):
        stream.push_frame(AudioFrame(chunk))
        await asyncio.sleep(0.002)


async def until_final(stream: STTStream) -> tuple[list[Transcript], Transcript]:
    seen: list[Transcript] = []
    async with asyncio.timeout(FINAL_WAIT):
        async for t in stream:
            if t.is_final:
                return seen, t
            seen.append(t)
    raise AssertionError("stream ended without a final")


def deepgram(fake: DeepgramFake, **kw: object) -> DeepgramSTT:
    return DeepgramSTT(api_key=API_KEY, base_url=fake.http_url, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def dg_stream(deepgram_fake: DeepgramFake) -> AsyncIterator[STTStream]:
    stream = await deepgram(deepgram_fake).open_stream()
    yield stream
    await stream.aclose()


# ---------------------------------------------------------------- Deepgram


async def test_deepgram_interims_then_one_final_per_flush(
    dg_stream: STTStream, deepgram_fake: DeepgramFake
) -> None:
    await stream_audio(dg_stream, speech(1.0))
    dg_stream.flush()
    interims, final = await until_final(dg_stream)
    texts = [t.text for t in interims]
    assert len(texts) >= 2 and texts[-1] == "hello world how are you"
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))  # growing
    assert all(not t.is_final for t in interims)
    assert final.text == "hello world how are you"
    assert final.audio_seconds == pytest.approx(1.0)
    request = deepgram_fake.requests[-1]
    assert request.headers["Authorization"] == f"Token {API_KEY}"
    assert request.query["encoding"] == "linear16" and request.query["sample_rate"] == "16000"
    assert request.query["interim_results"] == "true"
    await asyncio.sleep(0.05)
    assert {"type": "Finalize"} in request.messages
    assert request.audio_bytes == 32_000


async def test_deepgram_flush_without_buffered_audio_is_answered_after_grace(
    deepgram_fake: DeepgramFake,
) -> None:
    stream = await deepgram(deepgram_fake, finalize_grace=0.1).open_stream()
    push(stream, speech(0.4))
    stream.flush()
    assert (await until_final(stream))[1].text == "hello world"
    stream.flush()  # nothing new: Deepgram may not answer Finalize at all
    _, final = await until_final(stream)
    assert final.text == ""
    await stream.aclose()


async def test_deepgram_endpointing_final_when_asked(deepgram_fake: DeepgramFake) -> None:
    stream = await deepgram(deepgram_fake, final_on_endpoint=True, endpointing_ms=100).open_stream()
    push(stream, speech(0.4) + silence(0.2))
    _, final = await until_final(stream)  # no flush: speech_final ended the utterance
    assert final.text == "hello world"
    await stream.aclose()


async def test_deepgram_keepalive_holds_an_idle_socket(deepgram_fake: DeepgramFake) -> None:
    deepgram_fake.idle_timeout = 0.3
    stream = await deepgram(deepgram_fake, keepalive_interval=0.1).open_stream()
    await asyncio.sleep(0.6)  # twice the server's idle timeout without audio
    push(stream, speech(0.2))
    stream.flush()
    assert (await until_final(stream))[1].text == "hello"
    assert {"type": "KeepAlive"} in deepgram_fake.requests[-1].messages
    await stream.aclose()


async def test_deepgram_idle_close_without_keepalive_fails_the_stream(
    deepgram_fake: DeepgramFake,
) -> None:
    deepgram_fake.idle_timeout = 0.2
    stream = await deepgram(deepgram_fake, keepalive_interval=5.0).open_stream()
    with pytest.raises(ProviderError, match="1011 NET-0001") as info:
        await until_final(stream)
    assert info.value.retryable
    await stream.aclose()


async def test_deepgram_bad_key_fails_at_connect_not_retryable(deepgram_fake: DeepgramFake) -> None:
    stt = DeepgramSTT(api_key="wrong", base_url=deepgram_fake.http_url)
    with pytest.raises(ProviderStatusError) as info:
        await stt.open_stream()
    assert info.value.status == 401 and not info.value.retryable


async def test_deepgram_connect_hang_times_out(deepgram_fake: DeepgramFake) -> None:
    deepgram_fake.knobs.hang = True
    with pytest.raises(ProviderTimeout):
        await deepgram(deepgram_fake, connect_timeout=0.2).open_stream()


async def test_deepgram_drop_mid_stream_is_retryable(
    dg_stream: STTStream, deepgram_fake: DeepgramFake
) -> None:
    deepgram_fake.knobs.disconnect_after = 2
    push(dg_stream, speech(1.0))
    with pytest.raises(ProviderError) as info:
        await until_final(dg_stream)
    assert info.value.retryable


async def test_deepgram_counts_and_skips_malformed_messages(deepgram_fake: DeepgramFake) -> None:
    deepgram_fake.inject_messages = [
        "not json",
        '{"type": "Results", "channel": "garbage"}',
        '{"type": "Surprise"}',
    ]
    stream = await deepgram(deepgram_fake).open_stream()
    push(stream, speech(0.2))
    stream.flush()
    assert (await until_final(stream))[1].text == "hello"
    assert stream.invalid_messages >= 2  # type: ignore[attr-defined]
    await stream.aclose()


async def test_deepgram_meters_audio_and_latency(deepgram_fake: DeepgramFake) -> None:
    stt = deepgram(deepgram_fake)
    stream = await stt.open_stream()
    push(stream, speech(0.6))
    stream.flush()
    await until_final(stream)
    await stream.aclose()
    metrics = stt.last_metrics
    assert metrics is not None
    assert metrics.audio_seconds == pytest.approx(0.6)
    assert metrics.ttfb is not None and metrics.finalize_latency is not None
    assert metrics.usage() == {"stt.audio_seconds": pytest.approx(0.6)}


async def test_deepgram_rejects_audio_at_the_wrong_rate(dg_stream: STTStream) -> None:
    with pytest.raises(ValueError, match="16000 Hz"):
        dg_stream.push_frame(AudioFrame.silence(sample_rate=8000))


# ---------------------------------------------------------------- OpenAI transcription


@pytest.fixture(params=[True, False], ids=["streamed", "whole"])
async def whisper(
    openai_fake: OpenAIFake, request: pytest.FixtureRequest
) -> AsyncIterator[OpenAISTT]:
    stt = OpenAISTT(
        api_key=API_KEY,
        base_url=f"{openai_fake.http_url}/v1",
        timeout=1.0,
        stream_upload=request.param,
    )
    yield stt
    await stt.aclose()


async def test_openai_stt_transcribes_the_utterance_on_flush(
    whisper: OpenAISTT, openai_fake: OpenAIFake
) -> None:
    stream = await whisper.open_stream(language="en")
    push(stream, speech(0.5))
    stream.flush()
    interims, final = await until_final(stream)
    assert interims == [] and final.text == "what is the weather"
    assert final.audio_seconds == pytest.approx(0.5)
    request = openai_fake.requests[-1]
    assert request.path == "/v1/audio/transcriptions"
    assert request.body["model"] == "gpt-4o-mini-transcribe" and request.body["language"] == "en"
    assert whisper.last_metrics is not None and whisper.last_metrics.audio_seconds == 0.5
    await stream.aclose()


async def test_openai_stt_empty_flush_is_an_empty_final(whisper: OpenAISTT) -> None:
    stream = await whisper.open_stream()
    stream.flush()
    assert (await until_final(stream))[1] == Transcript("", True, 1.0, 0.0)
    await stream.aclose()


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (429, True), (500, True)])
async def test_openai_stt_errors(
    whisper: OpenAISTT, openai_fake: OpenAIFake, status: int, retryable: bool
) -> None:
    openai_fake.knobs.error_status = status
    stream = await whisper.open_stream()
    push(stream, speech(0.2))
    stream.flush()
    with pytest.raises(ProviderStatusError) as info:
        await until_final(stream)
    assert info.value.retryable is retryable
    await stream.aclose()


async def test_openai_stt_hang_times_out(whisper: OpenAISTT, openai_fake: OpenAIFake) -> None:
    openai_fake.knobs.hang = True
    stream = await whisper.open_stream()
    push(stream, speech(0.2))
    stream.flush()
    with pytest.raises(ProviderTimeout):
        await until_final(stream)
    await stream.aclose()


def test_wav_container_is_valid() -> None:
    data = pcm_to_wav(speech(0.25), 16_000)
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16_000, 1, 2)
        assert wav.getnframes() == 4000


@pytest.mark.parametrize("pcm", [speech(0.25), speech(0.25) + b"\x01"])
def test_wav_header_is_what_the_wave_module_writes(pcm: bytes) -> None:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(pcm[: len(pcm) - len(pcm) % 2])
    assert pcm_to_wav(pcm, 16_000) == out.getvalue()


@pytest.mark.parametrize("body", [b"[]", b"not json", b'{"text": 3}', b"{}"])
async def test_openai_stt_malformed_answer_fails_the_stream(
    whisper: OpenAISTT, openai_fake: OpenAIFake, body: bytes
) -> None:
    openai_fake.transcription_body = body
    stream = await whisper.open_stream()
    push(stream, speech(0.2))
    stream.flush()
    with pytest.raises(ProviderError, match="response has no text"):
        await until_final(stream)
    await stream.aclose()
    assert openai_fake.requests[-1].body["model"] == "gpt-4o-mini-transcribe"
