"""WhisperSTT: stream logic against a scripted recognizer, recognition against the real model."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

import pytest

from media.frames import AudioFrame
from pipelines.errors import ProviderError
from pipelines.providers.base import STTStream, Transcript
from pipelines.providers.local.whisper_stt import Recognized, WhisperStream, WhisperSTT
from tests.support.speech import frames, silence, speak

RATE = 16_000


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def push(stream: WhisperStream, pcm: bytes) -> None:
    for chunk in frames(pcm, RATE):
        stream.push_frame(AudioFrame(chunk, RATE))


async def collect(stream: WhisperStream, count: int) -> list[Transcript]:
    out: list[Transcript] = []
    async for item in stream:
        out.append(item)
        if len(out) == count:
            break
    return out


class ScriptedRecognizer:
    """A fake provider: answers with the audio length, can be held or told to fail."""

    def __init__(
        self, *, max_window_seconds: float = 30.0, partial_interval_seconds: float | None = None
    ) -> None:
        self.max_window_seconds = max_window_seconds
        self.partial_interval_seconds = partial_interval_seconds
        self.calls: list[float] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False

    async def recognize(self, pcm: bytes, language: str = "en") -> Recognized:
        seconds = len(pcm) / (2 * RATE)
        self.calls.append(seconds)
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise ProviderError("scripted failure", provider="fake")
        return Recognized(f"heard {seconds:.1f}", 0.5)


# ---------------------------------------------------------------- stream logic (fast)


async def test_flush_yields_one_final_per_utterance_in_order() -> None:
    fake = ScriptedRecognizer()
    stream = WhisperStream(fake, "en")
    push(stream, silence(1.0))
    stream.flush()
    push(stream, silence(0.5))
    stream.flush()
    first, second = await collect(stream, 2)
    assert (first.text, first.is_final, first.audio_seconds) == ("heard 1.0", True, 1.0)
    assert (second.text, second.is_final, second.audio_seconds) == ("heard 0.5", True, 0.5)
    await stream.aclose()


async def test_speech_longer_than_a_window_is_joined_into_one_final() -> None:
    fake = ScriptedRecognizer(max_window_seconds=1.0)
    stream = WhisperStream(fake, "en")
    push(stream, silence(2.5))
    stream.flush()
    partial_1, partial_2, final = await collect(stream, 3)
    assert not partial_1.is_final and partial_1.text == "heard 1.0"
    assert not partial_2.is_final and partial_2.text == "heard 1.0 heard 1.0"
    assert final.is_final
    assert final.text == "heard 1.0 heard 1.0 heard 0.5"
    assert final.audio_seconds == pytest.approx(2.5)
    await stream.aclose()


async def test_partials_come_every_interval_and_are_skipped_when_busy() -> None:
    fake = ScriptedRecognizer(partial_interval_seconds=0.4)
    stream = WhisperStream(fake, "en")
    fake.gate.clear()
    push(stream, silence(0.4))  # first partial starts and is held
    await asyncio.sleep(0)
    push(stream, silence(0.4))  # busy: this partial is skipped, not queued
    fake.gate.set()
    stream.flush()
    partial, final = await collect(stream, 2)
    assert (partial.text, partial.is_final) == ("heard 0.4", False)
    assert (final.text, final.is_final) == ("heard 0.8", True)
    assert fake.calls == [0.4, 0.8]
    await stream.aclose()


async def test_recognizer_failure_surfaces_and_the_stream_goes_on() -> None:
    fake = ScriptedRecognizer()
    fake.fail_next = True
    stream = WhisperStream(fake, "en")
    push(stream, silence(0.2))
    stream.flush()
    with pytest.raises(ProviderError, match="scripted failure"):
        await stream.__anext__()
    push(stream, silence(0.3))
    stream.flush()
    (final,) = await collect(stream, 1)
    assert final.text == "heard 0.3"
    await stream.aclose()


async def test_aclose_ends_iteration_even_while_recognition_is_pending() -> None:
    fake = ScriptedRecognizer()
    fake.gate.clear()
    stream = WhisperStream(fake, "en")
    push(stream, silence(0.2))
    stream.flush()
    reader = asyncio.create_task(collect(stream, 5))
    await asyncio.sleep(0)
    await stream.aclose()
    assert await asyncio.wait_for(reader, timeout=2.0) == []
    # Frames after close are ignored, and iteration stays ended.
    push(stream, silence(0.2))
    stream.flush()
    assert await collect(stream, 1) == []


async def test_wrong_sample_rate_is_refused() -> None:
    stream = WhisperStream(ScriptedRecognizer(), "en")
    with pytest.raises(ProviderError) as caught:
        stream.push_frame(AudioFrame(bytes(960), 24_000))
    assert not caught.value.retryable
    await stream.aclose()


# ---------------------------------------------------------------- real model (slow)


@pytest.fixture(scope="module")
def whisper() -> Iterator[WhisperSTT]:
    provider = WhisperSTT()
    yield provider
    provider.close()


@pytest.fixture
async def whisper_stream(whisper: WhisperSTT) -> AsyncIterator[WhisperStream]:
    stream = await whisper.open_stream(language="en")
    yield stream
    await stream.aclose()


@pytest.mark.slow
async def test_whisper_transcribes_spoken_question(whisper_stream: WhisperStream) -> None:
    assert isinstance(whisper_stream, STTStream)
    speech = speak("What time does the store open tomorrow")
    push(whisper_stream, silence(0.2) + speech + silence(0.3))
    whisper_stream.flush()
    (final,) = await collect(whisper_stream, 1)
    assert final.is_final
    heard = set(words(final.text))
    assert {"time", "store", "open", "tomorrow"} <= heard, final.text
    assert final.audio_seconds == pytest.approx(len(speech) / (2 * RATE) + 0.5, abs=0.03)
    assert 0.0 < final.confidence <= 1.0


@pytest.mark.slow
async def test_whisper_two_flushes_give_two_separate_finals(whisper_stream: WhisperStream) -> None:
    push(whisper_stream, speak("Please book a table for tonight"))
    whisper_stream.flush()
    push(whisper_stream, speak("I want to cancel my order"))
    whisper_stream.flush()
    first, second = await collect(whisper_stream, 2)
    assert {"table", "tonight"} <= set(words(first.text)), first.text
    assert "order" not in words(first.text)
    assert {"cancel", "order"} <= set(words(second.text)), second.text
    assert "table" not in words(second.text)


@pytest.mark.slow
async def test_whisper_skips_silence_instead_of_inventing_words(
    whisper_stream: WhisperStream,
) -> None:
    push(whisper_stream, silence(1.0))
    whisper_stream.flush()
    (final,) = await collect(whisper_stream, 1)
    assert (final.text, final.is_final, final.audio_seconds) == ("", True, 1.0)


async def test_english_only_model_refuses_other_languages(whisper: WhisperSTT) -> None:
    from pipelines.errors import ProviderUnavailable

    with pytest.raises(ProviderUnavailable, match="only recognises English"):
        await whisper.open_stream(language="de")


def test_missing_model_is_unavailable(tmp_path: object) -> None:
    from pipelines.errors import ProviderUnavailable

    with pytest.raises(ProviderUnavailable, match="no CTranslate2 Whisper model"):
        WhisperSTT(str(tmp_path))
