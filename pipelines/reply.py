"""One agent reply in flight: what has been said, what has played, and its tasks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from pipelines.text import SpokenSegment
from pipelines.timeline import TurnTimeline


@dataclass
class ReplyRun:
    turn_id: int
    timeline: TurnTimeline
    user_text: str | None
    # Playout counter when this reply began: played samples are counted from here.
    played_at_start: int
    segments: list[SpokenSegment] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    # History indexes of the messages this reply added.
    user_index: int | None = None
    assistant_index: int | None = None
    synthesis_done: bool = False
    audio_started: bool = False
