"""One developer WebSocket connection speaking protocol v1.

Every client message is validated before use. A bad message gets an ``error``
event naming its code and the session continues; a flood of them closes this
socket only. Outbound events and audio go through one bounded queue drained by
one sender task, so a slow client can never block the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from control_plane.voice import metrics
from control_plane.voice.protocol import (
    CLOSE_NORMAL,
    CLOSE_OVERLOADED,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    MAX_AUDIO_MESSAGE_BYTES,
    MAX_BAD_MESSAGES,
    MAX_TEXT_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    ErrorCode,
    InputText,
    Interrupt,
    Ping,
    SessionEnd,
    SessionStart,
    client_message,
)
from control_plane.voice.runtime import Unauthorized, UnknownAgent, VoiceRuntime
from media.frames import FRAME_MS, PIPELINE_RATE, AudioFrame
from media.transcode import InboundAudio, OutboundAudio
from pipelines.events import AgentInterrupted, ErrorEvent, SessionEvent, to_wire
from pipelines.session import VoiceSession

log = logging.getLogger(__name__)

TRANSPORT = "websocket"
FRAME_SECS = FRAME_MS / 1000
OUTBOX_LIMIT = 2000  # events + 20 ms audio frames: ~40 s of backlog
_CLOSE_POLICY = "\x00close:1008"  # outbox marker: close the socket with 1008


class _Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class VoiceConnection:
    def __init__(self, ws: WebSocket, runtime: VoiceRuntime) -> None:
        self.ws = ws
        self.runtime = runtime
        self.session_id = uuid.uuid4().hex
        self.session: VoiceSession | None = None
        self.inbound: InboundAudio | None = None
        self.outbound: OutboundAudio | None = None
        self.bad_messages = 0
        self.dropped_outbound = 0
        self._outbox: asyncio.Queue[str | bytes | None] = asyncio.Queue(OUTBOX_LIMIT)

    async def serve(self) -> None:
        await self.ws.accept()
        sender = asyncio.create_task(self._send_loop())
        code, reason = CLOSE_NORMAL, "bye"
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    self._on_audio(message["bytes"])
                elif message.get("text") is not None and not await self._on_text(message["text"]):
                    break
        except _Closed as closed:
            code, reason = closed.code, closed.reason
        except WebSocketDisconnect:
            pass
        finally:
            await self.runtime.close_session(self.session_id, TRANSPORT)
            if not self._outbox.full():
                self._outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sender, 2.0)
            sender.cancel()
            with contextlib.suppress(Exception):
                await self.ws.close(code, reason)

    # ------------------------------------------------------------ inbound

    def _error(self, code: ErrorCode, message: str) -> None:
        """Reject one client message; the session carries on."""
        self.bad_messages += 1
        metrics.BAD_MESSAGES.labels(TRANSPORT, code).inc()
        self._send_json({"type": "error", "code": code, "message": message, "fatal": False})
        if self.bad_messages > MAX_BAD_MESSAGES:
            raise _Closed(CLOSE_POLICY, "too many invalid messages")

    def _on_audio(self, data: bytes) -> None:
        if self.session is None or self.inbound is None:
            self._error("audio_before_start", "send session.start before audio")
            return
        if len(data) > MAX_AUDIO_MESSAGE_BYTES:
            self._error(
                "frame_too_large",
                f"audio message of {len(data)} bytes exceeds {MAX_AUDIO_MESSAGE_BYTES}",
            )
            return
        frames = self.inbound.push(data)
        # The message's audio ended on arrival: date each frame back from now.
        now = asyncio.get_running_loop().time()
        for back, pcm in zip(range(len(frames), 0, -1), frames, strict=True):
            self.session.push_audio(AudioFrame(pcm, PIPELINE_RATE, now - back * FRAME_SECS))

    async def _on_text(self, text: str) -> bool:
        if len(text.encode()) > MAX_TEXT_MESSAGE_BYTES:
            raise _Closed(CLOSE_TOO_BIG, f"text message exceeds {MAX_TEXT_MESSAGE_BYTES} bytes")
        try:
            raw: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            self._error("invalid_json", f"not JSON: {exc.msg} at {exc.pos}")
            return True
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            self._error("invalid_message", "a message is a JSON object with a string 'type'")
            return True
        try:
            msg = client_message.validate_python(raw)
        except ValidationError as exc:
            if exc.errors()[0]["type"] == "union_tag_invalid":
                self._error("unknown_type", f"unknown message type {raw['type'][:64]!r}")
            else:
                self._error("invalid_message", _describe(exc))
            return True
        if isinstance(msg, SessionStart):
            await self._start(msg)
        elif isinstance(msg, Ping):
            self._send_json({"type": "pong", "id": msg.id})
        elif self.session is None:
            self._error("not_started", f"send session.start before {msg.type}")
        elif isinstance(msg, InputText):
            self.session.push_text(msg.text)
        elif isinstance(msg, Interrupt):
            self.session.interrupt()
        elif isinstance(msg, SessionEnd):
            return False
        return True

    async def _start(self, msg: SessionStart) -> None:
        if self.session is not None:
            self._error("already_started", "this socket already has a session")
            return
        if self.runtime.full:
            raise _Closed(CLOSE_OVERLOADED, "server at capacity, retry later")
        try:
            spec = await self.runtime.resolve(msg.agent, msg.api_key)
        except UnknownAgent:
            self._error("unknown_agent", f"no agent {msg.agent!r}")
            return
        except Unauthorized as exc:
            self._send_json({"type": "error", "code": "unauthorized", "message": str(exc)})
            raise _Closed(CLOSE_POLICY, "unauthorized") from exc
        self.inbound = InboundAudio(msg.input_audio.encoding, msg.input_audio.sample_rate)
        self.outbound = OutboundAudio(msg.output_audio.encoding, msg.output_audio.sample_rate)
        self._send_json(
            {
                "type": "session.started",
                "session_id": self.session_id,
                "protocol": PROTOCOL_VERSION,
                "agent": spec.id,
                "input_audio": msg.input_audio.model_dump(),
                "output_audio": msg.output_audio.model_dump(),
            }
        )
        self.session = await self.runtime.open_session(
            self.session_id,
            spec,
            transport=TRANSPORT,
            on_event=self._on_event,
            on_audio=self._on_agent_audio,
        )

    # ------------------------------------------------------------ outbound

    def _on_event(self, event: SessionEvent) -> None:
        if isinstance(event, AgentInterrupted) and self.outbound is not None:
            self.outbound.reset()
        self._send_json(to_wire(event))
        if isinstance(event, ErrorEvent) and event.fatal:
            # The session is over (e.g. its organisation was suspended): close after the event.
            self._put(_CLOSE_POLICY)

    def _on_agent_audio(self, frame: AudioFrame) -> None:
        if self.outbound is not None:
            self._put(self.outbound.convert(frame.pcm))

    def _send_json(self, data: dict[str, Any]) -> None:
        self._put(json.dumps(data, separators=(",", ":")))

    def _put(self, item: str | bytes) -> None:
        try:
            self._outbox.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped_outbound += 1

    async def _send_loop(self) -> None:
        while (item := await self._outbox.get()) is not None:
            try:
                if item is _CLOSE_POLICY:
                    await self.ws.close(CLOSE_POLICY, "session ended by the server")
                    return
                if isinstance(item, bytes):
                    await self.ws.send_bytes(item)
                else:
                    await self.ws.send_text(item)
            except Exception:
                return


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]
