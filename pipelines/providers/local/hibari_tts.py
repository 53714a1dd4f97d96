"""Offline text-to-speech: hibari (a 7.9 MB ONNX voice, 24 kHz) shipped as ``hibari-tts``.

Text is cut into sentences; each is synthesized on the provider's worker thread
and yielded as soon as it exists, while the next sentence is already being
made. The raw voice is quiet (peaks near -9 dBFS, RMS near -27 dBFS), so each
sentence is brought to a target loudness, with its peak kept below clipping.

Only the bundled voice "heart" works offline; the others would be downloaded,
which this provider refuses to do.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import math
from collections.abc import AsyncGenerator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from pipelines.errors import ProviderError, ProviderUnavailable

HIBARI_RATE = 24_000
PROVIDER_NAME = "hibari"
DEFAULT_VOICE = "heart"
# Speech at -20 dBFS RMS sits where telephony and WebRTC expect talkers to be.
TARGET_RMS_DBFS = -20.0
# Headroom under full scale: codecs and resamplers overshoot a little.
MAX_PEAK = 0.9
# A near-silent sentence (a lone "Hm.") must not be blown up into noise.
MAX_GAIN_DB = 24.0
# Bytes per yielded chunk: small enough for a playout buffer to start early and
# for barge-in to drop little, large enough to keep per-chunk overhead low.
CHUNK_MS = 200
# An agent reply is a few sentences; a book is a mistake upstream.
MAX_TEXT_CHARS = 10_000

FloatAudio = npt.NDArray[np.float32]


def normalise(audio: FloatAudio, *, target_rms_dbfs: float, max_peak: float) -> bytes:
    """Float audio in [-1, 1] to PCM16 at the target loudness, never clipping."""
    if audio.size == 0:
        return b""
    peak = float(np.max(np.abs(audio)))
    rms = math.sqrt(float(np.mean(np.square(audio, dtype=np.float64))))
    if peak == 0.0 or rms == 0.0:
        return bytes(2 * audio.size)
    gain = min(
        10 ** (target_rms_dbfs / 20) / rms,
        max_peak / peak,
        10 ** (MAX_GAIN_DB / 20),
    )
    scaled = np.clip(audio * gain, -1.0, 1.0) * 32767.0
    return bytes(scaled.astype("<i2").tobytes())


class HibariTTS:
    """TTSProvider over the hibari ONNX voice, 24 kHz PCM16 mono out."""

    name = PROVIDER_NAME
    sample_rate = HIBARI_RATE

    def __init__(
        self,
        voice: str = DEFAULT_VOICE,
        *,
        target_rms_dbfs: float = TARGET_RMS_DBFS,
        max_peak: float = MAX_PEAK,
        speed: float = 1.0,
        seed: int | None = None,
        chunk_ms: int = CHUNK_MS,
        max_text_chars: int = MAX_TEXT_CHARS,
    ) -> None:
        if importlib.util.find_spec("hibari") is None:
            raise ProviderUnavailable(
                "hibari-tts is not installed: pip install hibari-tts", provider=PROVIDER_NAME
            )
        # Imported as modules (hibari ships no type information).
        voices = importlib.import_module("hibari.voices")
        if voice not in voices.VOICES:
            raise ProviderUnavailable(
                f"unknown hibari voice {voice!r}; known: {', '.join(voices.VOICES)}",
                provider=PROVIDER_NAME,
            )
        try:
            # Never download: a voice that is not on disk is simply unavailable.
            self.model_path: str = voices.voice_path(voice, download_missing=False)
        except FileNotFoundError as exc:
            raise ProviderUnavailable(
                f"hibari voice {voice!r} is not on this machine (only 'heart' ships offline)",
                provider=PROVIDER_NAME,
            ) from exc
        if not 0 < max_peak <= 1:
            raise ValueError("max_peak must be in (0, 1]")
        if not 0.5 <= speed <= 2.0:
            raise ValueError("speed must be in [0.5, 2.0]")
        if chunk_ms <= 0:
            raise ValueError("chunk_ms must be positive")
        self.voice = voice
        self.target_rms_dbfs = target_rms_dbfs
        self.max_peak = max_peak
        self.speed = speed
        self.seed = seed
        self.max_text_chars = max_text_chars
        self._chunk_bytes = 2 * HIBARI_RATE * chunk_ms // 1000
        self._engine: Any = None
        # One worker: the G2P is not known to be thread-safe, and hibari runs at
        # ~100x real time on one core, so one thread keeps up with many calls.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hibari-tts")

    # ------------------------------------------------------------ worker thread

    def _load_sync(self) -> Any:
        if self._engine is None:
            try:
                hibari = importlib.import_module("hibari")
                engine = hibari.Hibari(voice=self.voice, threads=1)
                # The G2P loads its lexicons on first use (~1 s): pay that now.
                engine.phonemize("Ready.")
            except Exception as exc:
                raise ProviderUnavailable(
                    f"could not load hibari voice {self.voice!r}: {exc}", provider=PROVIDER_NAME
                ) from exc
            self._engine = engine
        return self._engine

    def _sentences_sync(self, text: str) -> list[str]:
        sentences: list[str] = self._load_sync().split_sentences(text)
        return sentences

    def _synthesize_sync(self, sentence: str, rng: np.random.Generator) -> bytes:
        engine = self._load_sync()
        parts = [
            engine.from_ids(engine.ids(phonemes), self.speed, rng)
            for phonemes in engine.phonemize(sentence)
        ]
        if not parts:
            return b""
        audio = np.concatenate(parts).astype(np.float32, copy=False)
        return normalise(audio, target_rms_dbfs=self.target_rms_dbfs, max_peak=self.max_peak)

    # ------------------------------------------------------------ TTSProvider

    async def warm_up(self) -> None:
        """Load the voice and the G2P now rather than on the first reply."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load_sync)

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        if len(text) > self.max_text_chars:
            raise ProviderError(
                f"text of {len(text)} characters exceeds {self.max_text_chars}",
                provider=PROVIDER_NAME,
                retryable=False,
            )
        if not text.strip():
            return
        loop = asyncio.get_running_loop()
        sentences = await loop.run_in_executor(self._executor, self._sentences_sync, text)
        rng = np.random.default_rng(self.seed)
        pending: Future[bytes] | None = None
        try:
            for index in range(len(sentences)):
                if pending is None:
                    pending = self._executor.submit(self._synthesize_sync, sentences[index], rng)
                current = pending
                # Start the next sentence before handing this one out, so the
                # consumer never waits on synthesis between sentences.
                pending = (
                    self._executor.submit(self._synthesize_sync, sentences[index + 1], rng)
                    if index + 1 < len(sentences)
                    else None
                )
                pcm = await self._await(current)
                for start in range(0, len(pcm), self._chunk_bytes):
                    yield pcm[start : start + self._chunk_bytes]
        finally:
            # The consumer stopped early (barge-in) or an error: drop queued work.
            # A sentence already on the thread finishes there, then nothing more runs.
            if pending is not None:
                pending.cancel()

    async def _await(self, future: Future[bytes]) -> bytes:
        try:
            return await asyncio.wrap_future(future)
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(f"hibari failed: {exc}", provider=PROVIDER_NAME) from exc

    def close(self) -> None:
        """Stop the synthesis thread once queued work is done."""
        self._executor.shutdown(wait=False, cancel_futures=True)
