"""Twilio Media Streams messages, validated at the edge.

Inbound messages (Twilio -> us) are a discriminated union on ``event``, parsed
from the raw text in one pass. Fields Twilio may add later are ignored; the
fields we use are required and bounded. Outbound messages (media, mark,
clear) are built from templates: identifiers are validated to a safe alphabet
on the way in, so they never need JSON escaping on the way out.

``twilio_media`` is the fast path for the one high-rate message (``media``,
50 a second per call): it accepts only a media message laid out exactly as
Twilio writes it, whose every field passes the model's own checks, and
returns None for anything else, which then goes to the model. It never
rejects: what it does not accept, the model accepts or rejects with its own
error, so bad input gets the same code and text as without it.
"""

from __future__ import annotations

import binascii
import re
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


# ---------------------------------------------------------------- media fast path

# Twilio's own serialisation of a media message: compact, in this key order
# (as logged from real calls in Twilio's media-streams samples; the simulated
# Twilio of benchmarks/twilio/peers.py and tests/telephony/peer.py sends it).
# Every variable part is a run of characters that needs no JSON escape, so a
# full match is exactly the text json.dumps-compact would give for those
# values. The payload is matched loosely here ([^"] scans fast) and checked by
# the strict base64 decode.
_SEQ = "[0-9]{1,20}"  # SeqNumber
_TWILIO_MEDIA = re.compile(
    re.escape('{"event":"media","sequenceNumber":"') + _SEQ
    + re.escape('","media":{"track":"') + "(inbound|outbound)"
    + re.escape('","chunk":"') + _SEQ
    + re.escape('","timestamp":"') + _SEQ
    + re.escape('","payload":"') + f'([^"]{{0,{MAX_PAYLOAD_CHARS}}})'
    + re.escape('"},"streamSid":"') + "([A-Za-z0-9]{2,64})"  # Sid
    + re.escape('"}')
)  # fmt: skip


def twilio_media(text: str) -> tuple[str, str, bytes] | None:
    """``(streamSid, media.track, decoded payload)`` of a media message as Twilio writes it.

    None for anything else (other events, other layouts, extra fields, a
    payload that is not strict base64, invalid input): the caller then parses
    the text with ``inbound_message``, which accepts it or rejects it with its
    own error. What this accepts, ``inbound_message`` parses to a ``Media``
    with the same streamSid, track and payload: the fast path never changes
    what is accepted, only how fast.
    """
    if len(text) > MAX_MESSAGE_CHARS:
        return None
    match = _TWILIO_MEDIA.fullmatch(text)
    if match is None:
        return None
    track, payload, stream_sid = match.groups()
    try:
        # Strict: only the base64 alphabet (so no escape, quote or control
        # character was in the JSON string), padding only at the end.
        audio = binascii.a2b_base64(payload, strict_mode=True)
    except ValueError:
        return None
    return stream_sid, track, audio


# ---------------------------------------------------------------- outbound

# streamSid and mark names are [A-Za-z0-9-] (validated or minted by us), the
# payload is base64: none of them needs JSON escaping.


def media_message(stream_sid: str, payload_b64: str) -> str:
    return f'{{"event":"media","streamSid":"{stream_sid}","media":{{"payload":"{payload_b64}"}}}}'


def mark_message(stream_sid: str, name: str) -> str:
    return f'{{"event":"mark","streamSid":"{stream_sid}","mark":{{"name":"{name}"}}}}'


def clear_message(stream_sid: str) -> str:
    return f'{{"event":"clear","streamSid":"{stream_sid}"}}'
