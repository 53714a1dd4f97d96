"""The developer WebSocket protocol, version 1: messages validated at the edge.

Client text messages are a discriminated union on ``type``; binary messages are
audio in the format declared by ``session.start``. See docs/websocket-protocol.md.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

PROTOCOL_VERSION = 1
SUPPORTED_RATES = (8000, 16000, 24000, 48000)

# Named limits.
MAX_TEXT_MESSAGE_BYTES = 16 * 1024
MAX_AUDIO_MESSAGE_BYTES = 64 * 1024  # ~2 s of 16 kHz PCM16; clients send 20-100 ms
MAX_INPUT_TEXT_CHARS = 4000
MAX_BAD_MESSAGES = 50  # per session; past this the socket is closed (1008)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AudioFormat(_Message):
    encoding: Literal["pcm16", "mulaw"] = "pcm16"
    sample_rate: Literal[8000, 16000, 24000, 48000] = 16000


class SessionStart(_Message):
    type: Literal["session.start"]
    agent: str = Field(default="default", min_length=1, max_length=128)
    protocol: Literal[1] = 1
    input_audio: AudioFormat = AudioFormat()
    output_audio: AudioFormat = AudioFormat()
    api_key: str | None = Field(default=None, max_length=256)


class InputText(_Message):
    type: Literal["input.text"]
    text: str = Field(min_length=1, max_length=MAX_INPUT_TEXT_CHARS)


class Interrupt(_Message):
    type: Literal["interrupt"]


class SessionEnd(_Message):
    type: Literal["session.end"]


class Ping(_Message):
    type: Literal["ping"]
    id: str | int | None = None


ClientMessage = Annotated[
    SessionStart | InputText | Interrupt | SessionEnd | Ping, Field(discriminator="type")
]
client_message: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)

ErrorCode = Literal[
    "invalid_json",
    "invalid_message",
    "unknown_type",
    "not_started",
    "already_started",
    "audio_before_start",
    "frame_too_large",
    "bad_audio",
    "unknown_agent",
    "unauthorized",
    "overloaded",
    "internal",
]

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008  # too many bad messages, unauthorized
CLOSE_TOO_BIG = 1009
CLOSE_OVERLOADED = 1013
