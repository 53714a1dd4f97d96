"""Streaming sample-rate conversion of PCM16 mono, one resampler per stream.

State carries across calls, so a stream cut into 20 ms frames comes out the
same as if it had been converted in one piece: no clicks at frame edges.
Equal rates pass bytes through untouched.

Two engines:

* ``"low_latency"`` (default): our polyphase FIR (``media.polyphase``) for
  ratios between the usual rates (8, 16, 24, 32, 48 kHz, or 11.025, 22.05,
  44.1 kHz among themselves). Its output is late by the filter's delay,
  ~1-3 ms (``delay_samples``), and holds nothing back: a chunk worth a whole
  number of output samples (a 20 ms frame) yields exactly that many from the
  first call on, so 20 ms in is 20 ms out.
* a soxr quality (``"LQ"``, ``"MQ"``, ``"HQ"``, ``"VHQ"``): ``soxr.ResampleStream``.
  It is cheaper per frame but works in large blocks: fed 20 ms frames at 8 kHz
  it holds back 60-115 ms (HQ), which a phone call pays in both directions.
  ``"low_latency"`` falls back to soxr HQ for awkward ratios.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import soxr

from media import polyphase
from media.errors import InvalidAudioError
from media.frames import SAMPLE_WIDTH

SUPPORTED_RATES = (8000, 16000, 24000, 48000)
Quality = Literal["low_latency", "QQ", "LQ", "MQ", "HQ", "VHQ"]
DEFAULT_QUALITY: Quality = "low_latency"
_QUALITIES = ("low_latency", "QQ", "LQ", "MQ", "HQ", "VHQ")
FALLBACK_QUALITY: Quality = "HQ"
_TO_FLOAT = np.float32(1.0 / 32768.0)
_MAX16, _MIN16 = np.float32(32767), np.float32(-32768)


def _to_int16(x: npt.NDArray[np.floating], scale: float = 1.0) -> bytes:
    """Round to PCM16, saturating. ``x`` holds raw sample values times ``1/scale``."""
    scaled = np.rint(x * scale) if scale != 1.0 else np.rint(x)
    # In place, by the ufuncs: ``np.clip`` adds microseconds of dispatch per call.
    np.minimum(scaled, 32767, out=scaled)
    np.maximum(scaled, -32768, out=scaled)
    out: npt.NDArray[np.int16] = scaled.astype("<i2")
    return out.tobytes()


def _owned_to_int16(x: npt.NDArray[np.float32]) -> bytes:
    """``_to_int16`` for a float32 array nobody else holds: rounded in place.

    Clipping to integer bounds before rounding gives the same values as after.
    Float32 bounds: a Python int would be converted on every call.
    """
    if not x.size:
        return b""
    np.minimum(x, _MAX16, out=x)
    np.maximum(x, _MIN16, out=x)
    np.rint(x, out=x)
    out: npt.NDArray[np.int16] = x.astype("<i2")
    return out.tobytes()


class StreamResampler:
    """PCM16 mono from ``in_rate`` to ``out_rate``, keeping filter state across calls.

    Both engines run in floating point and round and clip to int16 here (soxr's
    own int16 mode dithers, which makes output differ run to run).

    ``flush`` drains the filter's tail at the end of a stream (and leaves the
    resampler ready for a new one); ``reset`` drops state and tail at once,
    e.g. after a barge-in cut the audio short.
    """

    def __init__(self, in_rate: int, out_rate: int, *, quality: Quality = DEFAULT_QUALITY) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError("sample rates must be positive")
        if quality not in _QUALITIES:
            raise ValueError(f"quality must be one of {_QUALITIES}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.samples_in = 0
        self.samples_out = 0
        self._poly: polyphase.PolyphaseResampler | None = None
        self._soxr: soxr.ResampleStream | None = None
        if in_rate == out_rate:
            self.engine = "passthrough"
        elif quality == "low_latency" and polyphase.supports(in_rate, out_rate):
            self.engine = "polyphase"
            self._poly = polyphase.PolyphaseResampler(in_rate, out_rate)
        else:
            soxr_quality = FALLBACK_QUALITY if quality == "low_latency" else quality
            self.engine = f"soxr-{soxr_quality}"
            self._soxr = soxr.ResampleStream(
                in_rate, out_rate, 1, dtype="float32", quality=soxr_quality
            )

    @property
    def passthrough(self) -> bool:
        return self.engine == "passthrough"

    @property
    def delay_samples(self) -> int:
        """Output samples of lead-in before the input's first sample (polyphase only).

        The polyphase stream is the input delayed by this much, and ``flush``
        emits the last this-many samples. soxr instead holds audio back and
        stays time-aligned (0 here).
        """
        return self._poly.delay_samples if self._poly is not None else 0

    def process(self, pcm: bytes) -> bytes:
        if len(pcm) % SAMPLE_WIDTH:
            raise InvalidAudioError("PCM16 audio must hold a whole number of samples")
        if self.passthrough:
            n = len(pcm) // SAMPLE_WIDTH
            self.samples_in += n
            self.samples_out += n
            return bytes(pcm)
        return self.process_samples(np.frombuffer(pcm, dtype="<i2").astype(np.float32))

    def process_samples(self, samples: npt.NDArray[np.float32]) -> bytes:
        """Like ``process``, from float32 samples at PCM16 scale (e.g. decoded G.711)."""
        self.samples_in += len(samples)
        if self.passthrough:
            self.samples_out += len(samples)
            return _to_int16(samples)
        if not len(samples):
            return b""
        out: npt.NDArray[np.floating]
        if self._poly is not None:
            # The FIR is linear: it runs on raw sample values, no rescaling.
            out = self._poly.process(samples)
            self.samples_out += len(out)
            return _owned_to_int16(out)  # a fresh array each call
        assert self._soxr is not None
        out = self._soxr.resample_chunk(samples * _TO_FLOAT)
        self.samples_out += len(out)
        return _to_int16(out, 32768.0)

    def flush(self) -> bytes:
        """The samples still held in the filter; the next ``process`` starts a new stream."""
        tail: npt.NDArray[np.floating]
        if self._poly is not None:
            tail = self._poly.flush()
            self.samples_out += len(tail)
            return _owned_to_int16(tail)
        if self._soxr is not None:
            tail = self._soxr.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            self._soxr.clear()
            self.samples_out += len(tail)
            return _to_int16(tail, 32768.0)
        return b""

    def reset(self) -> None:
        """Forget buffered input and filter state without emitting it."""
        if self._poly is not None:
            self._poly.reset()
        elif self._soxr is not None:
            self._soxr.clear()
