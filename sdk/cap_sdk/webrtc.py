"""A voice session over WebRTC (aiortc): Opus audio both ways, events on a data channel."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
from collections import deque
from types import TracebackType
from typing import Any

import av
import httpx
import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from cap_sdk._pacing import Pacer
from cap_sdk._session import SessionBase
from cap_sdk.events import AgentAudio, Event, ProtocolError, SessionStarted, parse_event
from cap_sdk.sources import AudioSource

RATE = 48_000
FRAME_SAMPLES = 960
CONNECT_TIMEOUT = 15.0
MAX_QUEUED_SECONDS = 600.0


class CallRejected(RuntimeError):
    """The server refused the offer; ``status`` is its HTTP status (403 bad key, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class _MicTrack(MediaStreamTrack):
    """Our outgoing audio: queued frames when there are some, silence otherwise."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[bytes] = deque()
        self._pacer = Pacer()
        self._pts = 0
        self._silence = bytes(2 * FRAME_SAMPLES)
        self.drained = asyncio.Event()
        self.drained.set()

    def feed(self, frame: bytes) -> None:
        if len(self._queue) < MAX_QUEUED_SECONDS * 50:
            self._queue.append(frame)
            self.drained.clear()

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait()
        if self._queue:
            pcm = self._queue.popleft()
        else:
            pcm = self._silence
            self.drained.set()
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(pcm)
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += FRAME_SAMPLES
        return frame


def _mono(frame: av.AudioFrame) -> bytes:
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T
    if channels == 1:
        return bytes(data[0].astype("<i2").tobytes())
    return bytes(data.astype(np.float32).mean(axis=0).astype("<i2").tobytes())


class WebRtcSession(SessionBase):
    """Send audio/text, iterate typed events. Use ``connect_webrtc`` to make one."""

    def __init__(self, pc: RTCPeerConnection, *, receive_audio: bool) -> None:
        super().__init__()
        self.pc = pc
        self.session_id = ""
        self.started: SessionStarted | None = None
        self.receive_audio = receive_audio
        self.mic = _MicTrack()
        self.channel = pc.createDataChannel("events")
        self.connect_seconds: float | None = None
        self._started = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        pc.addTrack(self.mic)
        pc.on("track", self._on_track)
        self.channel.on("message", self._on_message)
        self.channel.on("close", self._end)
        pc.on("connectionstatechange", self._on_state)

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._end()

    def _end(self) -> None:
        if not self._closed:
            self._closed = True
            self._deliver_end()

    def _push(self, event: Event) -> None:
        if self._closed:
            return
        self._deliver(event)

    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            return
        try:
            event = parse_event(json.loads(message))
        except (json.JSONDecodeError, ProtocolError):
            return
        if isinstance(event, SessionStarted):
            self.started = event
            self._started.set()
        self._push(event)

    def _on_track(self, track: MediaStreamTrack) -> None:
        task = asyncio.get_running_loop().create_task(self._read_audio(track))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if self.receive_audio and isinstance(frame, av.AudioFrame):
                self._push(AgentAudio(_mono(frame), frame.sample_rate))

    # ------------------------------------------------------------ sending

    async def stream(self, source: AudioSource, *, wait: bool = True) -> None:
        """Queue a source on the outgoing track (played in real time); wait until sent."""
        pacer = Pacer()
        async for frame in source.frames(RATE):
            if source.live:
                await pacer.wait()
            self.mic.feed(frame)
        if wait:
            await self.mic.drained.wait()

    def _send_now(self, message: dict[str, Any]) -> None:
        if self.channel.readyState != "open":
            raise ConnectionError("the events channel is not open")
        self.channel.send(json.dumps(message))

    async def _send(self, message: dict[str, Any]) -> None:
        self._send_now(message)

    async def close(self) -> None:
        """Hang up: tell the server, close the peer connection, stop every task."""
        if self.channel.readyState == "open":
            with contextlib.suppress(Exception):
                self._send_now({"type": "session.end"})
        self.mic.stop()
        await self.pc.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        self._end()

    async def __aenter__(self) -> WebRtcSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def connect_webrtc(
    base_url: str,
    *,
    key: str,
    agent: str = "default",
    ice_servers: list[dict[str, str]] | None = None,
    receive_audio: bool = True,
    http: httpx.AsyncClient | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> WebRtcSession:
    """Call ``agent`` at ``base_url`` (``http://host:port``); returns once the session started.

    ``http`` lets a caller reuse a client (or pass one bound to an in-process app).
    """
    servers = [RTCIceServer(**s) for s in ice_servers or []]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
    session = WebRtcSession(pc, receive_audio=receive_audio)
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        await pc.setLocalDescription(await pc.createOffer())
        body = {"sdp": pc.localDescription.sdp, "type": "offer", "agent": agent, "key": key}
        async with contextlib.AsyncExitStack() as stack:
            client = http
            if client is None:
                client = await stack.enter_async_context(httpx.AsyncClient(timeout=connect_timeout))
            response = await client.post(base_url.rstrip("/") + "/v1/webrtc/offer", json=body)
        if response.status_code != 200:
            raise CallRejected(response.status_code, _error_message(response))
        answer = response.json()
        session.session_id = answer["session_id"]
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        async with asyncio.timeout(connect_timeout):
            await session._started.wait()
        session.connect_seconds = loop.time() - began
    except BaseException:
        await session.close()
        raise
    return session


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
