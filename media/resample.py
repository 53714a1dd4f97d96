"""Streaming sample-rate conversion of PCM16 mono, one resampler per stream.

State carries across calls, so a stream cut into 20 ms frames comes out the
same as if it had been converted in one piece: no clicks at frame edges.
Equal rates pass bytes through untouched.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

from media.errors import InvalidAudioError
from media.frames import SAMPLE_WIDTH

SUPPORTED_RATES = (8000, 16000, 24000, 48000)
DEFAULT_QUALITY = "HQ"
_QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")
_TO_FLOAT = np.float32(1.0 / 32768.0)


def _to_int16(x: npt.NDArray[np.float32]) -> bytes:
    scaled = np.rint(x * np.float32(32768.0))
    out: npt.NDArray[np.int16] = np.clip(scaled, -32768, 32767).astype("<i2")
    return out.tobytes()


class StreamResampler:
    """PCM16 mono from ``in_rate`` to ``out_rate`` over ``soxr.ResampleStream``.

    soxr runs in float32 here: its int16 mode dithers, which makes output
    differ run to run; we round and clip ourselves, deterministically.

    ``flush`` drains the filter's tail at the end of a stream (and leaves the
    resampler ready for a new one); ``reset`` drops state and tail at once,
    e.g. after a barge-in cut the audio short.
    """

    def __init__(self, in_rate: int, out_rate: int, *, quality: str = DEFAULT_QUALITY) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError("sample rates must be positive")
        if quality not in _QUALITIES:
            raise ValueError(f"quality must be one of {_QUALITIES}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.quality = quality
        self.samples_in = 0
        self.samples_out = 0
        self._stream: soxr.ResampleStream | None = None
        if in_rate != out_rate:
            self._stream = self._new_stream()

    @property
    def passthrough(self) -> bool:
        return self._stream is None

    def process(self, pcm: bytes) -> bytes:
        if len(pcm) % SAMPLE_WIDTH:
            raise InvalidAudioError("PCM16 audio must hold a whole number of samples")
        self.samples_in += len(pcm) // SAMPLE_WIDTH
        if self._stream is None:
            self.samples_out += len(pcm) // SAMPLE_WIDTH
            return bytes(pcm)
        if not pcm:
            return b""
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) * _TO_FLOAT
        out = self._stream.resample_chunk(samples)
        self.samples_out += len(out)
        return _to_int16(out)

    def flush(self) -> bytes:
        """The samples still held in the filter; the next ``process`` starts a new stream."""
        if self._stream is None:
            return b""
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self.samples_out += len(tail)
        self._stream.clear()
        return _to_int16(tail)

    def reset(self) -> None:
        """Forget buffered input and filter state without emitting it."""
        if self._stream is not None:
            self._stream.clear()

    def _new_stream(self) -> soxr.ResampleStream:
        return soxr.ResampleStream(
            self.in_rate, self.out_rate, 1, dtype="float32", quality=self.quality
        )
