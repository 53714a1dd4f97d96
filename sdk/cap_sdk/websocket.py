"""A voice session over the developer WebSocket protocol v1."""

from __future__ import annotations

import asyncio
import contextlib
import json
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from cap_sdk._pacing import Pacer
from cap_sdk._session import SessionBase
from cap_sdk.events import (
    AgentAudio,
    ErrorEvent,
    Event,
    ProtocolError,
    SessionStarted,
    parse_event,
)
from cap_sdk.sources import AudioSource

SUPPORTED_RATES = (8000, 16000, 24000, 48000)
START_TIMEOUT = 15.0


class SessionRejected(RuntimeError):
    """The server refused to start the session (unknown agent, bad key, capacity)."""


class WebSocketSession(SessionBase):
    """Send audio/text, iterate typed events. Use ``connect_websocket`` to make one."""

    def __init__(self, ws: ClientConnection, *, input_rate: int, output_rate: int) -> None:
        super().__init__()
        self.ws = ws
        self.input_rate = input_rate
        self.output_rate = output_rate
        self.started: SessionStarted | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def session_id(self) -> str:
        assert self.started is not None
        return self.started.session_id

    async def _start(self, agent: str, api_key: str | None) -> None:
        start: dict[str, Any] = {
            "type": "session.start",
            "agent": agent,
            "protocol": 1,
            "input_audio": {"encoding": "pcm16", "sample_rate": self.input_rate},
            "output_audio": {"encoding": "pcm16", "sample_rate": self.output_rate},
        }
        if api_key is not None:
            start["api_key"] = api_key
        await self.ws.send(json.dumps(start))
        async with asyncio.timeout(START_TIMEOUT):
            while True:
                try:
                    message = await self.ws.recv()
                except ConnectionClosed as exc:
                    raise SessionRejected(f"server closed the socket: {exc}") from exc
                event = self._decode(message)
                if isinstance(event, SessionStarted):
                    self.started = event
                    break
                if isinstance(event, ErrorEvent):
                    raise SessionRejected(f"{event.code}: {event.message}")
        self._reader = asyncio.get_running_loop().create_task(self._read())

    def _decode(self, message: str | bytes) -> Event:
        if isinstance(message, bytes):
            return AgentAudio(message, self.output_rate)
        try:
            return parse_event(json.loads(message))
        except json.JSONDecodeError as exc:
            raise ProtocolError(f"server sent invalid JSON: {exc}") from exc

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                self._deliver(self._decode(message))
        except ConnectionClosed:
            pass
        finally:
            self._deliver_end()

    # ------------------------------------------------------------ sending

    async def send_audio(self, pcm: bytes) -> None:
        """PCM16 mono at ``input_rate``, any chunk size up to 64 KiB."""
        await self.ws.send(pcm)

    async def stream(self, source: AudioSource, *, realtime: bool = True) -> None:
        """Send a whole source; non-live sources are paced like a microphone."""
        pacer = Pacer()
        async for frame in source.frames(self.input_rate):
            if realtime and not source.live:
                await pacer.wait()
            await self.ws.send(frame)

    async def _send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def close(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._send({"type": "session.end"})
        await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def __aenter__(self) -> WebSocketSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def connect_websocket(
    url: str,
    *,
    agent: str = "default",
    api_key: str | None = None,
    input_rate: int = 16_000,
    output_rate: int = 16_000,
) -> WebSocketSession:
    """Open ``url`` (``ws://host:port/v1/ws``) and start a session with ``agent``."""
    if input_rate not in SUPPORTED_RATES or output_rate not in SUPPORTED_RATES:
        raise ValueError(f"sample rates must be one of {SUPPORTED_RATES}")
    ws = await connect(url, max_size=2**20)
    session = WebSocketSession(ws, input_rate=input_rate, output_rate=output_rate)
    try:
        await session._start(agent, api_key)
    except BaseException:
        await ws.close()
        raise
    return session
