"""HibariTTS: loudness, streaming, cancellation, and a speech round trip through Whisper."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path

import numpy as np
import pytest
import soxr

from media.frames import AudioFrame
from pipelines.errors import ProviderError, ProviderUnavailable
from pipelines.providers.local.hibari_tts import HibariTTS, normalise
from pipelines.providers.local.whisper_stt import WhisperSTT
from tests.support.speech import frames, rms_dbfs

RATE = 24_000


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


class CountingHibari(HibariTTS):
    """Counts the sentences actually synthesized on the worker thread."""

    def __init__(self) -> None:
        super().__init__(seed=7)
        self.synthesized = 0

    def _synthesize_sync(self, sentence: str, rng: np.random.Generator) -> bytes:
        self.synthesized += 1
        return super()._synthesize_sync(sentence, rng)


@pytest.fixture(scope="module")
def tts() -> Iterator[CountingHibari]:
    provider = CountingHibari()
    yield provider
    provider.close()


async def speak_all(tts: HibariTTS, text: str) -> bytes:
    out = bytearray()
    async for chunk in tts.synthesize(text):
        out += chunk
    return bytes(out)


# ---------------------------------------------------------------- gain (pure)


def test_normalise_brings_quiet_speech_to_target_loudness() -> None:
    tone = (0.03 * np.sin(np.linspace(0, 400 * np.pi, 24_000))).astype(np.float32)
    pcm = normalise(tone, target_rms_dbfs=-20.0, max_peak=0.9)
    assert rms_dbfs(pcm) == pytest.approx(-20.0, abs=0.2)


def test_normalise_never_exceeds_the_peak_limit() -> None:
    # One loud click in quiet audio: the loudness target would clip it.
    audio = np.full(24_000, 0.01, dtype=np.float32)
    audio[100] = 0.5
    samples = np.frombuffer(normalise(audio, target_rms_dbfs=-20.0, max_peak=0.9), "<i2")
    assert int(np.abs(samples).max()) <= round(0.9 * 32767) + 1
    assert int(np.abs(samples).max()) >= round(0.9 * 32767) - 1


def test_normalise_caps_gain_on_near_silence_and_keeps_silence_silent() -> None:
    hiss = np.full(2_400, 1e-5, dtype=np.float32)
    assert rms_dbfs(normalise(hiss, target_rms_dbfs=-20.0, max_peak=0.9)) < -60.0
    zeros = normalise(np.zeros(480, np.float32), target_rms_dbfs=-20.0, max_peak=0.9)
    assert zeros == bytes(960)
    assert normalise(np.zeros(0, np.float32), target_rms_dbfs=-20.0, max_peak=0.9) == b""


# ---------------------------------------------------------------- validation (fast)


def test_unknown_voice_is_unavailable() -> None:
    with pytest.raises(ProviderUnavailable, match="unknown hibari voice"):
        HibariTTS(voice="nobody")


def test_voice_that_would_need_a_download_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIBARI_HOME", str(tmp_path))
    with pytest.raises(ProviderUnavailable, match="only 'heart' ships offline"):
        HibariTTS(voice="emma")
    assert list(tmp_path.iterdir()) == []


async def test_too_long_text_is_refused_without_retry() -> None:
    tts = HibariTTS(max_text_chars=20)
    with pytest.raises(ProviderError) as caught:
        await speak_all(tts, "This sentence is longer than twenty characters.")
    assert not caught.value.retryable
    tts.close()


async def test_blank_text_yields_nothing() -> None:
    tts = HibariTTS()
    assert await speak_all(tts, "  \n ") == b""
    tts.close()


# ---------------------------------------------------------------- real voice (slow)


@pytest.mark.slow
async def test_speech_is_24khz_at_sane_loudness_and_scales_with_text(tts: HibariTTS) -> None:
    assert tts.sample_rate == RATE
    short = await speak_all(tts, "Hello there.")
    long = await speak_all(
        tts, "Hello there. The store opens at nine tomorrow morning, and closes at six tonight."
    )
    assert len(short) % 2 == 0 and len(long) % 2 == 0
    short_s, long_s = len(short) / (2 * RATE), len(long) / (2 * RATE)
    assert 0.3 < short_s < 3.0
    assert long_s > 2.5 * short_s
    for pcm in (short, long):
        assert -26.0 < rms_dbfs(pcm) < -14.0
        assert int(np.abs(np.frombuffer(pcm, "<i2")).max()) <= round(0.9 * 32767) + 1


@pytest.mark.slow
async def test_audio_streams_sentence_by_sentence(tts: HibariTTS) -> None:
    chunks = [c async for c in tts.synthesize("One. Two. Three.")]
    # Each sentence arrives on its own (in chunks of at most 200 ms).
    assert len(chunks) >= 3
    assert all(0 < len(c) <= 2 * RATE // 5 for c in chunks)


@pytest.mark.slow
async def test_consumer_stopping_early_stops_synthesis(tts: CountingHibari) -> None:
    text = " ".join(f"This is sentence number {n}." for n in range(1, 13))
    before = tts.synthesized
    async with aclosing(tts.synthesize(text)) as audio:
        async for _chunk in audio:
            break
    # Drain the worker: a no-op queued now runs only after everything before it.
    await asyncio.wait_for(asyncio.wrap_future(tts._executor.submit(lambda: None)), 5.0)
    assert tts.synthesized - before <= 2


@pytest.mark.slow
async def test_cancelled_consumer_task_stops_synthesis(tts: CountingHibari) -> None:
    text = " ".join(f"Here is line {n} of a long answer." for n in range(1, 13))
    before = tts.synthesized
    started = asyncio.Event()

    async def consume() -> None:
        async for _chunk in tts.synthesize(text):
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 10.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(asyncio.wrap_future(tts._executor.submit(lambda: None)), 5.0)
    assert tts.synthesized - before <= 2


@pytest.mark.slow
async def test_round_trip_hibari_speech_is_understood_by_whisper(tts: HibariTTS) -> None:
    speech = await speak_all(tts, "The store opens at nine tomorrow morning.")
    audio = np.frombuffer(speech, "<i2").astype(np.float32) / 32768.0
    at_16k = soxr.resample(audio, RATE, 16_000)
    pcm16k = (np.clip(at_16k, -1.0, 32767 / 32768) * 32768.0).astype("<i2").tobytes()
    stt = WhisperSTT()
    stream = await stt.open_stream()
    for chunk in frames(pcm16k, 16_000):
        stream.push_frame(AudioFrame(chunk, 16_000))
    stream.flush()
    final = await stream.__anext__()
    await stream.aclose()
    stt.close()
    heard = set(words(final.text))
    assert {"store", "tomorrow", "morning"} <= heard, final.text
    assert heard & {"open", "opens"}, final.text
    assert heard & {"nine", "9"}, final.text
