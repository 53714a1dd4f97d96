"""Per-turn timeline: named timestamps on the session clock and what follows from them.

Voice-to-voice latency = first audio out - user speech end (the end of the
last voiced frame, so it includes the VAD stop window, as a caller feels it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Mark = Literal[
    "user_speech_start",
    "user_speech_end",
    "vad_end_confirmed",
    "stt_final",
    "llm_request",
    "llm_first_token",
    "tts_first_audio",
    "first_audio_out",
    "interrupted",
    "agent_audio_done",
]


@dataclass
class TurnTimeline:
    turn_id: int
    marks: dict[str, float] = field(default_factory=dict)
    usage: dict[str, float] = field(default_factory=dict)

    def mark(self, name: Mark, at: float) -> None:
        """Record the first occurrence of ``name``; later ones are ignored."""
        self.marks.setdefault(name, at)

    def add_usage(self, key: str, amount: float) -> None:
        self.usage[key] = self.usage.get(key, 0.0) + amount

    def span_ms(self, start: Mark, end: Mark) -> float | None:
        if start in self.marks and end in self.marks:
            return (self.marks[end] - self.marks[start]) * 1000.0
        return None

    @property
    def voice_to_voice_ms(self) -> float | None:
        return self.span_ms("user_speech_end", "first_audio_out")
