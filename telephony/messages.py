"""Twilio Media Streams messages, validated at the edge.

Inbound messages (Twilio -> us) are a discriminated union on ``event``, parsed
from the raw text in one pass. Fields Twilio may add later are ignored; the
fields we use are required and bounded. Outbound messages (media, mark,
clear) are built from templates: identifiers are validated to a safe alphabet
on the way in, so they never need JSON escaping on the way out.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

# Named limits.
MAX_MESSAGE_CHARS = 16 * 1024  # a 20 ms media message is ~300 characters
MAX_MEDIA_BYTES = 1600  # decoded mu-law per message: 200 ms (Twilio sends 20 ms)
MAX_PAYLOAD_CHARS = (MAX_MEDIA_BYTES + 2) // 3 * 4
MAX_CUSTOM_PARAMETERS = 16
MAX_PARAMETER_CHARS = 256

# Why a message was rejected (the label of cap_twilio_bad_messages_total).
BadMessageCode = Literal[
    "invalid_json", "not_an_object", "unknown_event", "missing_field", "invalid_field",
    "message_too_large", "binary_frame", "frame_too_large", "bad_base64", "empty_media",
    "media_before_start", "before_start", "wrong_stream_sid", "unexpected_track",
    "unknown_mark", "duplicate_start", "unexpected_connected",
]  # fmt: skip

Sid = Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9]+$")]
SeqNumber = Annotated[str, Field(max_length=20, pattern=r"^[0-9]+$")]
MarkName = Annotated[str, Field(min_length=1, max_length=64)]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Connected(_In):
    event: Literal["connected"]
    protocol: str = Field(default="Call", max_length=32)
    version: str = Field(default="", max_length=32)


class MediaFormat(_In):
    encoding: Literal["audio/x-mulaw"]
    sampleRate: Literal[8000]
    channels: Literal[1]


class StartInfo(_In):
    accountSid: Sid
    callSid: Sid
    streamSid: Sid | None = None
    tracks: list[Literal["inbound", "outbound"]] = Field(default=["inbound"], max_length=2)
    customParameters: dict[
        Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=MAX_PARAMETER_CHARS)]
    ] = Field(default_factory=dict, max_length=MAX_CUSTOM_PARAMETERS)
    mediaFormat: MediaFormat


class Start(_In):
    event: Literal["start"]
    streamSid: Sid
    sequenceNumber: SeqNumber | None = None
    start: StartInfo


class MediaInfo(_In):
    track: Literal["inbound", "outbound"] = "inbound"
    chunk: SeqNumber | None = None
    timestamp: SeqNumber | None = None
    payload: str = Field(max_length=MAX_PAYLOAD_CHARS)


class Media(_In):
    event: Literal["media"]
    streamSid: Sid
    sequenceNumber: SeqNumber | None = None
    media: MediaInfo


class DtmfInfo(_In):
    track: str = Field(default="inbound_track", max_length=32)
    digit: Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]


class Dtmf(_In):
    event: Literal["dtmf"]
    streamSid: Sid
    sequenceNumber: SeqNumber | None = None
    dtmf: DtmfInfo


class MarkInfo(_In):
    name: MarkName


class Mark(_In):
    event: Literal["mark"]
    streamSid: Sid
    sequenceNumber: SeqNumber | None = None
    mark: MarkInfo


class StopInfo(_In):
    accountSid: Sid | None = None
    callSid: Sid | None = None


class Stop(_In):
    event: Literal["stop"]
    streamSid: Sid
    sequenceNumber: SeqNumber | None = None
    stop: StopInfo = StopInfo()


InboundMessage = Annotated[
    Connected | Start | Media | Dtmf | Mark | Stop, Field(discriminator="event")
]
inbound_message: TypeAdapter[InboundMessage] = TypeAdapter(InboundMessage)


# ---------------------------------------------------------------- outbound

# streamSid and mark names are [A-Za-z0-9-] (validated or minted by us), the
# payload is base64: none of them needs JSON escaping.


def media_message(stream_sid: str, payload_b64: str) -> str:
    return f'{{"event":"media","streamSid":"{stream_sid}","media":{{"payload":"{payload_b64}"}}}}'


def mark_message(stream_sid: str, name: str) -> str:
    return f'{{"event":"mark","streamSid":"{stream_sid}","mark":{{"name":"{name}"}}}}'


def clear_message(stream_sid: str) -> str:
    return f'{{"event":"clear","streamSid":"{stream_sid}"}}'
