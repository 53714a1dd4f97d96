"""Builds the caller's audio cycle from real speech (espeak-ng), for both sides.

Runs in the main environment only (numpy, ``tests.support.speech``). The cycle
is written to a directory that each step process loads with ``Cycle.load``.
"""

from __future__ import annotations

import numpy as np

from benchmarks.voice.scenario import (
    FRAME_BYTES,
    FRAME_SECS,
    LONG_LABEL,
    SAMPLE_RATE,
    SHORT_LABEL,
    Cycle,
    Utterance,
)
from tests.support.speech import speak

U1_TEXT = "Tell me a story."
U2_TEXT = "What time is it?"
LEAD_SECS = 0.5
# U1 ends, the VAD waits 0.6 s, providers take 0.45 s: U2 lands ~1 s into the reply.
GAP_SECS = 2.05
# Room for the short reply (~1 s) after U2's turn, with margin.
TAIL_SECS = 2.85
# A quiet noise floor (about -70 dBFS) instead of digital silence, as on a line.
NOISE_STD = 8.0
_VOICED_LEVEL = 50


def _trimmed(text: str) -> np.ndarray:
    samples = np.frombuffer(speak(text, SAMPLE_RATE), dtype="<i2")
    loud = np.nonzero(np.abs(samples.astype(np.int32)) > _VOICED_LEVEL)[0]
    if loud.size == 0:
        raise RuntimeError(f"espeak-ng produced silence for {text!r}")
    return samples[loud[0] : loud[-1] + 1]


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.int16)


def _frames_of(samples: np.ndarray) -> int:
    return -(-samples.size * 2 // FRAME_BYTES)


def build_cycle(seed: int = 7) -> Cycle:
    per_frame = round(FRAME_SECS * SAMPLE_RATE)
    parts: list[np.ndarray] = []
    utterances: list[Utterance] = []
    cursor = 0  # in frames

    def add(samples: np.ndarray) -> None:
        nonlocal cursor
        padded = np.zeros(_frames_of(samples) * per_frame, dtype=np.int16)
        padded[: samples.size] = samples
        parts.append(padded)
        cursor += padded.size // per_frame

    def say(text: str, label: str, barge_in: bool) -> None:
        speech = _trimmed(text)
        first = cursor
        add(speech)
        utterances.append(Utterance(label, first, cursor - 1, barge_in))

    add(_silence(LEAD_SECS))
    say(U1_TEXT, LONG_LABEL, barge_in=False)
    add(_silence(GAP_SECS))
    say(U2_TEXT, SHORT_LABEL, barge_in=True)
    add(_silence(TAIL_SECS))
    pcm = np.concatenate(parts).astype(np.float64)
    pcm += np.random.default_rng(seed).normal(0.0, NOISE_STD, pcm.size)
    data = np.clip(pcm, -32768, 32767).astype("<i2").tobytes()
    frames = tuple(data[i : i + FRAME_BYTES] for i in range(0, len(data), FRAME_BYTES))
    return Cycle(frames, tuple(utterances))
