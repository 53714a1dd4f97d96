"""The canonical audio frame: PCM16 little-endian mono, a sample rate, 20 ms by default.

Samples are exposed as a numpy view over the frame's bytes, never a copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PIPELINE_RATE = 16_000
FRAME_MS = 20
SAMPLE_WIDTH = 2

Samples = npt.NDArray[np.int16]


def samples_per_frame(sample_rate: int, frame_ms: int = FRAME_MS) -> int:
    return sample_rate * frame_ms // 1000


def frame_bytes(sample_rate: int, frame_ms: int = FRAME_MS) -> int:
    return samples_per_frame(sample_rate, frame_ms) * SAMPLE_WIDTH


@dataclass(frozen=True, slots=True, init=False)
class AudioFrame:
    """One chunk of PCM16 mono audio.

    ``timestamp`` is the session-clock time (seconds) at which the frame's first
    sample was captured or received.
    """

    pcm: bytes
    sample_rate: int = PIPELINE_RATE
    timestamp: float = 0.0

    # Written by hand, not generated: every 20 ms per session per direction,
    # and the generated frozen __init__ plus __post_init__ cost ~60% more.
    # Same signature and checks as the generated one with __post_init__.
    def __init__(
        self, pcm: bytes, sample_rate: int = PIPELINE_RATE, timestamp: float = 0.0
    ) -> None:
        if len(pcm) % SAMPLE_WIDTH:
            raise ValueError("PCM16 frame must hold a whole number of samples")
        if sample_rate <= 0:
            raise ValueError("sample rate must be positive")
        # Frozen: set once, here, through the slots' own descriptors (below),
        # which is cheaper than object.__setattr__'s lookup by name.
        _set_pcm(self, pcm)
        _set_sample_rate(self, sample_rate)
        _set_timestamp(self, timestamp)

    @property
    def samples(self) -> Samples:
        """A read-only int16 view over ``pcm`` (no copy)."""
        return np.frombuffer(self.pcm, dtype=np.int16)

    @property
    def sample_count(self) -> int:
        return len(self.pcm) // SAMPLE_WIDTH

    @property
    def duration(self) -> float:
        return self.sample_count / self.sample_rate

    @classmethod
    def from_samples(
        cls, samples: Samples, sample_rate: int = PIPELINE_RATE, timestamp: float = 0.0
    ) -> AudioFrame:
        return cls(samples.astype(np.int16, copy=False).tobytes(), sample_rate, timestamp)

    @classmethod
    def silence(
        cls, sample_rate: int = PIPELINE_RATE, frame_ms: int = FRAME_MS, timestamp: float = 0.0
    ) -> AudioFrame:
        return cls(bytes(frame_bytes(sample_rate, frame_ms)), sample_rate, timestamp)


_set_pcm = AudioFrame.__dict__["pcm"].__set__
_set_sample_rate = AudioFrame.__dict__["sample_rate"].__set__
_set_timestamp = AudioFrame.__dict__["timestamp"].__set__


class Reframer:
    """Cuts a byte stream of PCM16 into fixed-size frames, keeping the remainder.

    Transports receive audio in whatever chunk sizes the peer chooses; the
    pipeline wants exact 20 ms frames.
    """

    def __init__(self, sample_rate: int = PIPELINE_RATE, frame_ms: int = FRAME_MS) -> None:
        self.sample_rate = sample_rate
        self.frame_size = frame_bytes(sample_rate, frame_ms)
        self._pending = bytearray()

    def push(self, pcm: bytes) -> list[bytes]:
        self._pending += pcm
        out: list[bytes] = []
        size = self.frame_size
        usable = len(self._pending) - len(self._pending) % size
        for start in range(0, usable, size):
            out.append(bytes(self._pending[start : start + size]))
        del self._pending[:usable]
        return out

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    def reset(self) -> None:
        self._pending.clear()
