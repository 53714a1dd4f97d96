"""The boundary every voice activity detector implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


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
