"""The boundary every voice activity detector implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from media.frames import AudioFrame

ScoreSink = Callable[[float, float, float], None]
"""Receives ``(timestamp, duration_secs, probability)`` of one scored piece of audio."""


@runtime_checkable
class VoiceActivityDetector(Protocol):
    """Scores one PCM16 mono frame (20 ms at ``sample_rate``) for speech.

    Detectors may keep state across frames (Silero's RNN, its window buffer);
    ``reset`` forgets it, e.g. when a session restarts listening.
    """

    sample_rate: int

    def speech_probability(self, pcm: bytes) -> float:
        """Probability in [0, 1] that the frame holds speech."""
        ...

    def reset(self) -> None: ...


@runtime_checkable
class RetunableDetector(Protocol):
    """A detector that can also run at another sample rate (webrtcvad: 8, 16, 32, 48 kHz).

    A session fed at a telephone line's 8 kHz asks for one at that rate and so
    scores the line's own samples instead of resampling every frame first.
    """

    def at_rate(self, sample_rate: int) -> VoiceActivityDetector | None:
        """A fresh detector with the same settings at ``sample_rate``; None if unsupported."""
        ...


@runtime_checkable
class DeferredVoiceActivityDetector(Protocol):
    """A detector that scores audio elsewhere (a worker thread) and reports later.

    ``push`` only hands the frame over. Each scored piece of audio (for Silero a
    32 ms window) comes back through the sink given to ``bind``, on the event
    loop, in the order the audio was pushed, stamped with the audio's own time
    (derived from the pushed frames' timestamps). ``reset`` drops audio not yet
    reported; ``close`` releases the stream (nothing is reported after it).
    """

    sample_rate: int

    def bind(self, sink: ScoreSink) -> None: ...

    def push(self, frame: AudioFrame) -> None: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...
