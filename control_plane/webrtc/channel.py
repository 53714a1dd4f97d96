"""The ``events`` data channel: protocol v1 events out, client messages in.

It carries the same JSON events as the developer WebSocket (docs/websocket-
protocol.md); audio travels on the media track instead of binary messages, and
the session starts with the HTTP offer instead of ``session.start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiortc import RTCDataChannel
from pydantic import ValidationError

from control_plane.voice.protocol import (
    MAX_TEXT_MESSAGE_BYTES,
    ClientMessage,
    ErrorCode,
    SessionStart,
    client_message,
)

CHANNEL_LABEL = "events"
# Events emitted before the peer's channel opens (the greeting's text, states).
MAX_PENDING_EVENTS = 256
# SCTP send buffer; past this the peer is not reading and events are dropped.
MAX_BUFFERED_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Rejected:
    code: ErrorCode
    message: str


def parse_client_message(data: str | bytes) -> ClientMessage | Rejected:
    """Validate one data-channel message from the peer."""
    if isinstance(data, bytes):
        return Rejected(
            "invalid_message", "binary messages are not accepted here: audio goes on the track"
        )
    if len(data) > MAX_TEXT_MESSAGE_BYTES or len(data.encode()) > MAX_TEXT_MESSAGE_BYTES:
        return Rejected("frame_too_large", f"message exceeds {MAX_TEXT_MESSAGE_BYTES} bytes")
    try:
        raw: Any = json.loads(data)
    except json.JSONDecodeError as exc:
        return Rejected("invalid_json", f"not JSON: {exc.msg} at {exc.pos}")
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return Rejected("invalid_message", "a message is a JSON object with a string 'type'")
    try:
        message = client_message.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "union_tag_invalid":
            return Rejected("unknown_type", f"unknown message type {raw['type'][:64]!r}")
        where = ".".join(str(p) for p in first["loc"])
        return Rejected("invalid_message", f"{where}: {first['msg']}" if where else first["msg"])
    if isinstance(message, SessionStart):
        return Rejected("already_started", "a WebRTC session starts with its offer")
    return message


class EventChannel:
    """Outbound events, held until the peer's channel opens, then sent in order."""

    def __init__(self) -> None:
        self._channel: RTCDataChannel | None = None
        self._pending: deque[str] = deque()
        self.sent = 0
        self.dropped = 0

    @property
    def attached(self) -> bool:
        return self._channel is not None

    def attach(self, channel: RTCDataChannel) -> None:
        self._channel = channel
        while self._pending:
            self._write(self._pending.popleft())

    async def drain(self, within: float) -> None:
        """Give queued events (the goodbye) up to ``within`` seconds to leave."""
        channel = self._channel
        if channel is None or channel.readyState != "open" or channel.bufferedAmount == 0:
            return
        drained = asyncio.Event()
        channel.bufferedAmountLowThreshold = 0
        channel.once("bufferedamountlow", drained.set)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await drained.wait()

    def detach(self) -> None:
        self._channel = None
        self._pending.clear()

    def send(self, event: dict[str, Any]) -> None:
        text = json.dumps(event, separators=(",", ":"))
        if self._channel is None:
            if len(self._pending) >= MAX_PENDING_EVENTS:
                self.dropped += 1
                return
            self._pending.append(text)
            return
        self._write(text)

    def _write(self, text: str) -> None:
        channel = self._channel
        if channel is None or channel.readyState != "open":
            self.dropped += 1
            return
        if channel.bufferedAmount > MAX_BUFFERED_BYTES:
            self.dropped += 1
            return
        channel.send(text)
        self.sent += 1
