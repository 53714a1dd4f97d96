"""Fake speech: text encoded as PCM so a test can hear exactly what was said.

Each character becomes ``1/chars_per_second`` seconds of a constant sample
whose value is the character's code point. Decoding reads one sample per
character slot back, so a test can tell which words a TTS fake spoke, and
which were said twice after a fallback.
"""

from __future__ import annotations

import numpy as np

DEFAULT_CHARS_PER_SECOND = 16.0


def samples_per_char(sample_rate: int, chars_per_second: float = DEFAULT_CHARS_PER_SECOND) -> int:
    return max(1, round(sample_rate / chars_per_second))


def encode_text(
    text: str, sample_rate: int, chars_per_second: float = DEFAULT_CHARS_PER_SECOND
) -> bytes:
    codes = np.array([min(ord(c), 32767) for c in text], dtype=np.int16)
    return np.repeat(codes, samples_per_char(sample_rate, chars_per_second)).tobytes()


def decode_text(
    pcm: bytes, sample_rate: int, chars_per_second: float = DEFAULT_CHARS_PER_SECOND
) -> str:
    """The characters whose slots are fully or partly present in ``pcm``.

    Runs of equal samples are split into character slots; a partial slot at the
    end (audio cut mid-character) still counts as that character heard.
    """
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype=np.int16)
    per = samples_per_char(sample_rate, chars_per_second)
    return "".join(chr(int(v)) for v in samples[::per] if v > 0)


def speech(seconds: float, sample_rate: int = 16_000, amplitude: int = 3000) -> bytes:
    """Non-silent audio (a square wave) that fake STT servers treat as words."""
    n = int(seconds * sample_rate)
    wave = np.where((np.arange(n) // 20) % 2 == 0, amplitude, -amplitude).astype(np.int16)
    return wave.tobytes()


def silence(seconds: float, sample_rate: int = 16_000) -> bytes:
    return bytes(int(seconds * sample_rate) * 2)


def is_silent(pcm: bytes, threshold: int = 200) -> bool:
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype=np.int16)
    return samples.size == 0 or int(np.abs(samples.astype(np.int32)).max()) < threshold
