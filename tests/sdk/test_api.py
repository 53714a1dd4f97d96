"""Guards the SDK surface users write against: exported names and call signatures."""

from __future__ import annotations

import inspect

import cap_sdk
from cap_sdk import WebRtcSession, WebSocketSession, connect_webrtc, connect_websocket


def test_exported_names() -> None:
    assert sorted(cap_sdk.__all__) == sorted(
        [
            "AgentAudio", "AgentAudioDone", "AgentInterrupted", "AgentTextDelta",
            "AgentTextDone", "AudioSource", "CallRejected", "ErrorEvent", "Event",
            "MicrophoneSource", "PcmSource", "Pong", "ProtocolError", "SessionEnded",
            "SessionRejected", "SessionStarted", "SourceError", "StateChanged", "ToolCalled",
            "TranscriptFinal", "TranscriptPartial", "TurnMetrics", "UnknownEvent",
            "UserSpeechEnded", "UserSpeechStarted", "WavSource", "WebRtcSession",
            "WebSocketSession", "connect_webrtc", "connect_websocket", "parse_event",
        ]
    )  # fmt: skip
    for name in cap_sdk.__all__:
        assert hasattr(cap_sdk, name)


def test_connect_signatures() -> None:
    assert list(inspect.signature(connect_websocket).parameters) == [
        "url", "agent", "api_key", "input_rate", "output_rate",
    ]  # fmt: skip
    assert list(inspect.signature(connect_webrtc).parameters) == [
        "base_url", "key", "agent", "ice_servers", "receive_audio", "http", "connect_timeout",
    ]  # fmt: skip


def test_sessions_share_one_shape() -> None:
    for method in ("send_text", "interrupt", "ping", "stream", "next_event", "close"):
        assert inspect.iscoroutinefunction(getattr(WebSocketSession, method)), method
        assert inspect.iscoroutinefunction(getattr(WebRtcSession, method)), method
