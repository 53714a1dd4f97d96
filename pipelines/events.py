"""Events a voice or text session emits to its transport.

A discriminated union of frozen dataclasses (``type`` is the tag). Transports
serialise them with ``to_wire``; nothing here knows about HTTP or JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TurnStateName = Literal["listening", "user_speaking", "thinking", "agent_speaking"]


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: TurnStateName
    previous: TurnStateName
    type: Literal["state"] = "state"


@dataclass(frozen=True, slots=True)
class UserSpeechStarted:
    at: float
    type: Literal["user.speech_started"] = "user.speech_started"


@dataclass(frozen=True, slots=True)
class UserSpeechEnded:
    at: float
    type: Literal["user.speech_ended"] = "user.speech_ended"


@dataclass(frozen=True, slots=True)
class TranscriptPartial:
    text: str
    type: Literal["transcript.partial"] = "transcript.partial"


@dataclass(frozen=True, slots=True)
class TranscriptFinal:
    text: str
    turn_id: int
    type: Literal["transcript.final"] = "transcript.final"


@dataclass(frozen=True, slots=True)
class AgentTextDelta:
    text: str
    turn_id: int
    type: Literal["agent.text.delta"] = "agent.text.delta"


@dataclass(frozen=True, slots=True)
class AgentTextDone:
    text: str
    turn_id: int
    type: Literal["agent.text.done"] = "agent.text.done"


@dataclass(frozen=True, slots=True)
class AgentAudioDone:
    """The agent's reply for this turn has been fully played out."""

    turn_id: int
    type: Literal["agent.audio.done"] = "agent.audio.done"


@dataclass(frozen=True, slots=True)
class AgentInterrupted:
    turn_id: int
    heard_text: str
    played_ms: int
    type: Literal["agent.interrupted"] = "agent.interrupted"


@dataclass(frozen=True, slots=True)
class ToolCalled:
    turn_id: int
    name: str
    arguments: str
    result: str
    type: Literal["tool.called"] = "tool.called"


@dataclass(frozen=True, slots=True)
class TurnMetrics:
    turn_id: int
    # Named timestamps on the session clock (seconds); see pipelines.timeline.
    marks: dict[str, float] = field(default_factory=dict)
    voice_to_voice_ms: float | None = None
    usage: dict[str, float] = field(default_factory=dict)
    type: Literal["turn.metrics"] = "turn.metrics"


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    code: str
    message: str
    fatal: bool = False
    type: Literal["error"] = "error"


SessionEvent = (
    StateChanged
    | UserSpeechStarted
    | UserSpeechEnded
    | TranscriptPartial
    | TranscriptFinal
    | AgentTextDelta
    | AgentTextDone
    | AgentAudioDone
    | AgentInterrupted
    | ToolCalled
    | TurnMetrics
    | ErrorEvent
)


def to_wire(event: SessionEvent) -> dict[str, Any]:
    """A JSON-ready dict with ``type`` first."""
    data = asdict(event)
    kind = data.pop("type")
    return {"type": kind, **data}
