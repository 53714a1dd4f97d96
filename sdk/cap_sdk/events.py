"""Typed events from a CAP agent (protocol v1), parsed from the wire's JSON.

The server may add event types and fields without a version bump: unknown
types arrive as ``UnknownEvent`` and unknown fields are ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


class ProtocolError(ValueError):
    """The server sent something that is not a protocol v1 event."""


@dataclass(frozen=True, slots=True)
class SessionStarted:
    session_id: str
    agent: str
    protocol: int = 1


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: str
    previous: str


@dataclass(frozen=True, slots=True)
class UserSpeechStarted:
    at: float


@dataclass(frozen=True, slots=True)
class UserSpeechEnded:
    at: float


@dataclass(frozen=True, slots=True)
class TranscriptPartial:
    text: str


@dataclass(frozen=True, slots=True)
class TranscriptFinal:
    text: str
    turn_id: int


@dataclass(frozen=True, slots=True)
class AgentTextDelta:
    text: str
    turn_id: int


@dataclass(frozen=True, slots=True)
class AgentTextDone:
    text: str
    turn_id: int


@dataclass(frozen=True, slots=True)
class AgentAudio:
    """Agent speech: PCM16 little-endian mono at ``sample_rate``."""

    pcm: bytes
    sample_rate: int


@dataclass(frozen=True, slots=True)
class AgentAudioDone:
    turn_id: int


@dataclass(frozen=True, slots=True)
class AgentInterrupted:
    turn_id: int
    heard_text: str
    played_ms: int


@dataclass(frozen=True, slots=True)
class ToolCalled:
    turn_id: int
    name: str
    arguments: str
    result: str


@dataclass(frozen=True, slots=True)
class TurnMetrics:
    turn_id: int
    marks: dict[str, float] = field(default_factory=dict)
    voice_to_voice_ms: float | None = None
    usage: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    code: str
    message: str
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class Pong:
    id: str | int | None = None


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The server ended the session (WebRTC: with a reason such as ``media_timeout``)."""

    reason: str


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    type: str
    data: dict[str, Any]


Event = (
    SessionStarted
    | StateChanged
    | UserSpeechStarted
    | UserSpeechEnded
    | TranscriptPartial
    | TranscriptFinal
    | AgentTextDelta
    | AgentTextDone
    | AgentAudio
    | AgentAudioDone
    | AgentInterrupted
    | ToolCalled
    | TurnMetrics
    | ErrorEvent
    | Pong
    | SessionEnded
    | UnknownEvent
)

_BY_TYPE: dict[str, type[Any]] = {
    "session.started": SessionStarted,
    "state": StateChanged,
    "user.speech_started": UserSpeechStarted,
    "user.speech_ended": UserSpeechEnded,
    "transcript.partial": TranscriptPartial,
    "transcript.final": TranscriptFinal,
    "agent.text.delta": AgentTextDelta,
    "agent.text.done": AgentTextDone,
    "agent.audio.done": AgentAudioDone,
    "agent.interrupted": AgentInterrupted,
    "tool.called": ToolCalled,
    "turn.metrics": TurnMetrics,
    "error": ErrorEvent,
    "pong": Pong,
    "session.ended": SessionEnded,
}


def parse_event(data: object) -> Event:
    """One decoded JSON message as a typed event."""
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("an event is a JSON object with a string 'type'")
    kind = data["type"]
    cls = _BY_TYPE.get(kind)
    if cls is None:
        return UnknownEvent(kind, dict(data))
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        event: Event = cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as exc:
        raise ProtocolError(f"malformed {kind!r} event: {exc}") from exc
    return event
