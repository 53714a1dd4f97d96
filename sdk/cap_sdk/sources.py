"""Audio sources the SDK streams to an agent: a WAV file, raw PCM, a microphone.

A source yields PCM16 mono 20 ms frames at the rate the transport asks for.
File sources are not live: the session paces them in real time, as a
microphone would be, unless told not to.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soxr

FRAME_MS = 20
MAX_WAV_SECONDS = 600.0  # a longer file is almost certainly the wrong file


class SourceError(ValueError):
    """The audio cannot be used (format, size, missing device)."""


class AudioSource(Protocol):
    live: bool

    def frames(self, sample_rate: int) -> AsyncIterator[bytes]:
        """PCM16 mono frames of ``FRAME_MS`` at ``sample_rate``."""
        ...


def resample_pcm16(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    if from_rate == to_rate:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    out = soxr.resample(samples, from_rate, to_rate)
    return bytes(np.clip(np.rint(out * 32768.0), -32768, 32767).astype("<i2").tobytes())


def cut_frames(pcm: bytes, sample_rate: int) -> list[bytes]:
    """Equal 20 ms frames; a short last frame is padded with silence."""
    size = 2 * sample_rate * FRAME_MS // 1000
    out = [pcm[i : i + size] for i in range(0, len(pcm), size)]
    if out and len(out[-1]) < size:
        out[-1] += bytes(size - len(out[-1]))
    return out


class PcmSource:
    """PCM16 mono bytes held in memory, with optional trailing silence."""

    live = False

    def __init__(self, pcm: bytes, sample_rate: int, *, trailing_silence: float = 0.0) -> None:
        if len(pcm) % 2:
            raise SourceError("PCM16 audio must hold a whole number of samples")
        if sample_rate <= 0:
            raise SourceError("sample rate must be positive")
        self.pcm = pcm + bytes(2 * round(trailing_silence * sample_rate))
        self.sample_rate = sample_rate

    @property
    def duration(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate

    async def frames(self, sample_rate: int) -> AsyncIterator[bytes]:
        for frame in cut_frames(
            resample_pcm16(self.pcm, self.sample_rate, sample_rate), sample_rate
        ):
            yield frame


class WavSource(PcmSource):
    """A 16-bit PCM WAV file (any rate, mono or stereo, downmixed)."""

    def __init__(self, path: str | Path, *, trailing_silence: float = 1.0) -> None:
        try:
            with wave.open(str(path), "rb") as wav:
                width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
                if width != 2:
                    raise SourceError(f"{path}: only 16-bit PCM WAV is supported")
                if wav.getnframes() > MAX_WAV_SECONDS * rate:
                    raise SourceError(f"{path}: longer than {MAX_WAV_SECONDS:.0f} s")
                raw = wav.readframes(wav.getnframes())
        except (wave.Error, EOFError) as exc:
            raise SourceError(f"{path}: not a PCM WAV file ({exc})") from exc
        samples = np.frombuffer(raw, dtype="<i2")
        if channels > 1:
            samples = samples.reshape(-1, channels).mean(axis=1).astype("<i2")
        super().__init__(samples.tobytes(), rate, trailing_silence=trailing_silence)


class MicrophoneSource:
    """The default input device, through the optional ``sounddevice`` package."""

    live = True

    def __init__(self, device: int | str | None = None, *, max_queued_frames: int = 50) -> None:
        self.device = device
        self.max_queued_frames = max_queued_frames

    async def frames(self, sample_rate: int) -> AsyncIterator[bytes]:
        try:
            import sounddevice  # type: ignore[import-not-found]
        except ImportError as exc:
            raise SourceError("microphone input needs: pip install sounddevice") from exc
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes] = asyncio.Queue(self.max_queued_frames)

        def on_audio(data: Any, _frames: int, _time: Any, _status: Any) -> None:
            # Runs on the audio thread: hand over, drop if the consumer is behind.
            def put() -> None:
                if not queue.full():
                    queue.put_nowait(bytes(data))

            loop.call_soon_threadsafe(put)

        block = sample_rate * FRAME_MS // 1000
        with sounddevice.RawInputStream(
            samplerate=sample_rate,
            blocksize=block,
            channels=1,
            dtype="int16",
            device=self.device,
            callback=on_audio,
        ):
            while True:
                yield await queue.get()
