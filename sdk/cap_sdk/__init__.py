"""CAP Python SDK: talk to a CAP agent over WebSocket (protocol v1) or WebRTC.

async with await connect_websocket("ws://localhost:8000/v1/ws") as call:
    await call.stream(WavSource("question.wav"))
    async for event in call:
        ...
"""

from cap_sdk.events import (
    AgentAudio,
    AgentAudioDone,
    AgentInterrupted,
    AgentTextDelta,
    AgentTextDone,
    ErrorEvent,
    Event,
    Pong,
    ProtocolError,
    SessionEnded,
    SessionStarted,
    StateChanged,
    ToolCalled,
    TranscriptFinal,
    TranscriptPartial,
    TurnMetrics,
    UnknownEvent,
    UserSpeechEnded,
    UserSpeechStarted,
    parse_event,
)
from cap_sdk.sources import AudioSource, MicrophoneSource, PcmSource, SourceError, WavSource
from cap_sdk.webrtc import CallRejected, WebRtcSession, connect_webrtc
from cap_sdk.websocket import SessionRejected, WebSocketSession, connect_websocket

__all__ = [
    "AgentAudio",
    "AgentAudioDone",
    "AgentInterrupted",
    "AgentTextDelta",
    "AgentTextDone",
    "AudioSource",
    "CallRejected",
    "ErrorEvent",
    "Event",
    "MicrophoneSource",
    "PcmSource",
    "Pong",
    "ProtocolError",
    "SessionEnded",
    "SessionRejected",
    "SessionStarted",
    "SourceError",
    "StateChanged",
    "ToolCalled",
    "TranscriptFinal",
    "TranscriptPartial",
    "TurnMetrics",
    "UnknownEvent",
    "UserSpeechEnded",
    "UserSpeechStarted",
    "WavSource",
    "WebRtcSession",
    "WebSocketSession",
    "connect_webrtc",
    "connect_websocket",
    "parse_event",
]
