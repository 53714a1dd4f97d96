"""Turns per-frame speech probabilities into speech start and end events.

Pure: no clock. Time comes only from frame timestamps, so the same audio
always gives the same events, and tests need no event loop.

Rules (``d`` is a frame's duration; for a detector that scores its own
windows, such as Silero's 32 ms, read "window" for "frame"):

* A frame is *voiced* when its probability is at least ``threshold``.
* While quiet, a voiced frame opens a *candidate* run; ``speech_start`` is its
  timestamp. The candidate adds up voiced audio. A single unvoiced frame
  inside it is tolerated (a one-frame dropout in the middle of a word) and
  adds nothing; a second unvoiced frame in a row abandons the candidate
  silently.
* ``start`` fires on the frame where the candidate's voiced audio reaches
  ``max(start_secs, min_speech_secs)``. A run too short to count is therefore
  dropped before anything is emitted, and every ``start`` is followed by
  exactly one ``end`` (or a ``reset``).
* While speaking, ``end`` fires on the frame where consecutive unvoiced audio
  reaches ``stop_secs``; any voiced frame restarts that count. ``speech_end`` is
  the end of the last voiced frame (its timestamp + ``d``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from media.errors import InvalidAudioError
from media.frames import SAMPLE_WIDTH, AudioFrame
from media.vad.base import DeferredVoiceActivityDetector, VoiceActivityDetector

# Sums of 20 ms durations are not exact in binary floating point
# (10 * 0.02 < 0.2), so thresholds are compared with this slack.
_EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class VadParams:
    threshold: float = 0.5
    start_secs: float = 0.2
    stop_secs: float = 0.6
    min_speech_secs: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be within [0, 1]")
        if self.start_secs < 0 or self.stop_secs < 0 or self.min_speech_secs < 0:
            raise ValueError("durations must not be negative")


@dataclass(frozen=True, slots=True)
class SpeechEvent:
    kind: Literal["start", "end"]
    timestamp: float
    """Timestamp of the frame that caused the event."""
    speech_start: float
    """Timestamp of the first voiced frame of the run."""
    speech_end: float | None = None
    """For ``end``: end time of the last voiced frame. None for ``start``."""


class _Phase(enum.Enum):
    QUIET = "quiet"
    CANDIDATE = "candidate"
    SPEAKING = "speaking"


class SpeechDetector:
    """The speech start/end state machine of one stream."""

    def __init__(
        self,
        vad: VoiceActivityDetector | DeferredVoiceActivityDetector,
        params: VadParams | None = None,
    ) -> None:
        self.vad = vad
        # Bound once: ``process`` runs for every frame of every session.
        self._speech_probability: Callable[[bytes], float] | None = getattr(
            vad, "speech_probability", None
        )
        self._rate = vad.sample_rate
        self.params = params or VadParams()
        self._start_needed = max(self.params.start_secs, self.params.min_speech_secs)
        self._phase = _Phase.QUIET
        self._speech_start = 0.0
        self._voiced_secs = 0.0
        self._unvoiced_run = 0.0
        self._unvoiced_frames = 0
        self._last_voiced_end = 0.0
        self.last_probability = 0.0

    @property
    def speaking(self) -> bool:
        return self._phase is _Phase.SPEAKING

    def process(self, frame: AudioFrame) -> SpeechEvent | None:
        rate = self._rate
        if frame.sample_rate != rate:
            raise InvalidAudioError(f"frame at {frame.sample_rate} Hz fed to a {rate} Hz VAD")
        if self._speech_probability is None:
            raise TypeError("a deferred detector scores its own windows: feed them to score()")
        pcm = frame.pcm
        # ``frame.duration`` without its two property calls: this runs per frame.
        duration = len(pcm) / (SAMPLE_WIDTH * rate)
        return self.score(frame.timestamp, duration, self._speech_probability(pcm))

    def score(self, timestamp: float, duration: float, probability: float) -> SpeechEvent | None:
        """Advance on one scored piece of audio: a frame, or a detector's own window.

        ``process`` calls it per frame; a ``DeferredVoiceActivityDetector``'s
        results (Silero's 32 ms windows, scored off the event loop) are fed here
        directly, so the start window is counted in audio actually scored and
        the event fires on the window that completes it.
        """
        self.last_probability = probability
        if probability >= self.params.threshold:
            return self._on_voiced(timestamp, duration)
        return self._on_unvoiced(timestamp, duration)

    def reset(self) -> None:
        """Forget the current run (no event) and the VAD's state."""
        self._to_quiet()
        self.vad.reset()

    def _on_voiced(self, timestamp: float, duration: float) -> SpeechEvent | None:
        if self._phase is _Phase.QUIET:
            self._phase = _Phase.CANDIDATE
            self._speech_start = timestamp
            self._voiced_secs = 0.0
        self._voiced_secs += duration
        self._unvoiced_run = 0.0
        self._unvoiced_frames = 0
        self._last_voiced_end = timestamp + duration
        if self._phase is _Phase.CANDIDATE and self._voiced_secs + _EPSILON >= self._start_needed:
            self._phase = _Phase.SPEAKING
            return SpeechEvent("start", timestamp, self._speech_start)
        return None

    def _on_unvoiced(self, timestamp: float, duration: float) -> SpeechEvent | None:
        if self._phase is _Phase.QUIET:
            return None
        self._unvoiced_run += duration
        self._unvoiced_frames += 1
        if self._phase is _Phase.CANDIDATE:
            if self._unvoiced_frames >= 2:
                self._to_quiet()
            return None
        if self._unvoiced_run + _EPSILON >= self.params.stop_secs:
            event = SpeechEvent("end", timestamp, self._speech_start, self._last_voiced_end)
            self._to_quiet()
            return event
        return None

    def _to_quiet(self) -> None:
        self._phase = _Phase.QUIET
        self._voiced_secs = 0.0
        self._unvoiced_run = 0.0
        self._unvoiced_frames = 0
