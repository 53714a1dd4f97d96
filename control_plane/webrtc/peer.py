"""One WebRTC call: an aiortc peer connection bridged to a voice session.

Lifecycle (checked transitions): ``connecting`` from the offer until ICE and
DTLS are up, ``connected`` while the session runs, ``closed`` after teardown.
The voice session opens only once media flows, so the greeting is heard from
its first word. Every way a call can end (hang-up over the data channel or
HTTP, the peer closing, ICE failure, no media for ``media_timeout``, no
connection within ``connect_timeout``, the duration cap, server shutdown) goes
through ``close``, which releases the session, tracks, tasks and sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCDtlsTransport,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from control_plane.voice import metrics
from control_plane.voice.protocol import (
    MAX_BAD_MESSAGES,
    PROTOCOL_VERSION,
    InputText,
    Interrupt,
    Ping,
    SessionEnd,
)
from control_plane.voice.runtime import VoiceRuntime
from control_plane.webrtc import metrics as webrtc_metrics
from control_plane.webrtc.channel import CHANNEL_LABEL, EventChannel, Rejected, parse_client_message
from control_plane.webrtc.schemas import IceServer
from media.errors import InvalidAudioError
from media.frames import FRAME_MS, PIPELINE_RATE, AudioFrame
from media.transports.webrtc import WEBRTC_RATE, OutboundAudioTrack, PeerAudioReader
from pipelines.agent import AgentSpec
from pipelines.events import AgentAudioDone, AgentInterrupted, SessionEvent, to_wire
from pipelines.session import VoiceSession

log = logging.getLogger(__name__)

TRANSPORT = "webrtc"
FRAME_SECS = FRAME_MS / 1000
WATCHDOG_INTERVAL = 0.5  # how often timeouts are checked (one timer per call)
GOODBYE_SECONDS = 0.25  # for session.ended to leave before the connection closes

CloseReason = Literal[
    "hangup",
    "peer_closed",
    "ice_failed",
    "connect_timeout",
    "media_timeout",
    "max_duration",
    "bad_messages",
    "session_failed",
    "server_shutdown",
    "bad_offer",
    "dtls_failed",
    "org_suspended",
]


class PeerState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


_ALLOWED: dict[PeerState, frozenset[PeerState]] = {
    PeerState.CONNECTING: frozenset({PeerState.CONNECTED, PeerState.CLOSED}),
    PeerState.CONNECTED: frozenset({PeerState.CLOSED}),
    PeerState.CLOSED: frozenset(),
}


class BadOffer(ValueError):
    """The offer cannot be answered (malformed SDP, no audio, no Opus)."""


@dataclass(frozen=True, slots=True)
class PeerLimits:
    connect_timeout: float = 20.0  # answer sent -> ICE + DTLS connected
    media_timeout: float = 15.0  # connected but no inbound audio frame for this long
    max_duration: float = 4 * 3600.0
    close_timeout: float = 3.0  # per teardown step


def rtc_configuration(servers: list[IceServer]) -> RTCConfiguration:
    return RTCConfiguration(
        iceServers=[RTCIceServer(s.urls, s.username, s.credential) for s in servers]
    )


class WebRtcPeer:
    def __init__(
        self,
        *,
        session_id: str,
        spec: AgentSpec,
        runtime: VoiceRuntime,
        ice_servers: list[IceServer],
        limits: PeerLimits,
        on_closed: Callable[[WebRtcPeer], None],
    ) -> None:
        self.session_id = session_id
        self.spec = spec
        self.runtime = runtime
        self.limits = limits
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self.pc = RTCPeerConnection(rtc_configuration(ice_servers))
        self.track = OutboundAudioTrack(runtime.clock)
        self.events = EventChannel()
        self.reader = PeerAudioReader()
        self.session: VoiceSession | None = None
        self.state = PeerState.CONNECTING
        self.close_reason: CloseReason | None = None
        self.created_at = self._loop.time()
        self.connected_at: float | None = None
        self.last_media_at: float | None = None
        self.bad_messages = 0
        self.bad_audio_frames = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._opening: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._held: list[dict[str, Any]] | None = []

    # ------------------------------------------------------------ signalling

    async def answer(self, offer_sdp: str) -> str:
        """Apply the peer's offer and return our answer SDP (with every host candidate)."""
        pc = self.pc
        pc.on("connectionstatechange", self._on_connection_state)
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        # Our transceiver exists before the offer is applied so that its codec
        # preference (Opus only) shapes the negotiation.
        transceiver = pc.addTransceiver(self.track, direction="sendrecv")
        transceiver.setCodecPreferences(
            [
                c
                for c in RTCRtpSender.getCapabilities("audio").codecs
                if c.mimeType.lower() == "audio/opus"
            ]
        )
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        except Exception as exc:  # aiortc raises ValueError, OperationError... on bad SDP
            raise BadOffer(f"offer SDP rejected (does it offer Opus audio?): {exc}") from exc
        if transceiver.mid is None:
            raise BadOffer("the offer has no audio media section")
        dtls = transceiver.receiver.transport
        dtls.on("statechange", lambda: self._on_dtls_state(dtls))
        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            raise BadOffer(f"cannot answer the offer (does it offer Opus?): {exc}") from exc
        self._arm_watchdog()
        return pc.localDescription.sdp

    # ------------------------------------------------------------ state

    def _to(self, target: PeerState) -> bool:
        if target not in _ALLOWED[self.state]:
            return False
        self.state = target
        return True

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and self._to(PeerState.CONNECTED):
            self.connected_at = self._loop.time()
            self.last_media_at = self.connected_at
            took = self.connected_at - self.created_at
            webrtc_metrics.CONNECT_SECONDS.observe(took)
            log.debug("webrtc %s connected in %.3fs", self.session_id, took)
            self._opening = self._loop.create_task(self._open_session())
        elif state == "failed":
            self.close("ice_failed")
        elif state == "closed":
            self.close("peer_closed")

    def _on_dtls_state(self, dtls: RTCDtlsTransport) -> None:
        # The earliest sign that the call is over, and the only point where its
        # cause can be told: a hang-up closes DTLS over a live ICE path, while
        # expired consent (RFC 7675) or a dead network closes ICE underneath.
        if dtls.state == "failed":
            self.close("dtls_failed")
        elif dtls.state == "closed" and self.state is not PeerState.CLOSED:
            connection = getattr(dtls.transport, "_connection", None)
            ice_gone = bool(getattr(connection, "_closing", False))
            self.close("ice_failed" if ice_gone else "peer_closed")

    def _arm_watchdog(self) -> None:
        self._watchdog = self._loop.call_later(WATCHDOG_INTERVAL, self._check_timeouts)

    def _check_timeouts(self) -> None:
        self._watchdog = None
        if self.state is PeerState.CLOSED:
            return
        now = self._loop.time()
        limits = self.limits
        if self.state is PeerState.CONNECTING:
            if now - self.created_at > limits.connect_timeout:
                self.close("connect_timeout")
                return
        elif self.last_media_at is not None and now - self.last_media_at > limits.media_timeout:
            self.close("media_timeout")
            return
        if now - self.created_at > limits.max_duration:
            self.close("max_duration")
            return
        self._arm_watchdog()

    # ------------------------------------------------------------ session

    async def _open_session(self) -> None:
        try:
            session = await self.runtime.open_session(
                self.session_id,
                self.spec,
                transport=TRANSPORT,
                on_event=self._on_event,
                on_audio=self._on_agent_audio,
                playback_lag=lambda: self.track.queued_pipeline_samples,
            )
        except Exception as exc:
            log.exception("webrtc %s: voice session failed to open", self.session_id)
            self.events.send(
                {"type": "error", "code": "internal", "message": str(exc), "fatal": True}
            )
            self.close("session_failed")
            return
        self.session = session
        fmt = {"encoding": "opus", "sample_rate": WEBRTC_RATE}
        # Sent before any event of the session: the channel keeps order.
        self.events.send(
            {
                "type": "session.started",
                "session_id": self.session_id,
                "protocol": PROTOCOL_VERSION,
                "agent": self.spec.id,
                "input_audio": fmt,
                "output_audio": fmt,
            }
        )
        held, self._held = self._held, None
        for event in held or ():
            self.events.send(event)

    def _on_event(self, event: SessionEvent) -> None:
        if isinstance(event, AgentInterrupted):
            self.track.clear()
        elif isinstance(event, AgentAudioDone):
            self.track.finish()
        wire = to_wire(event)
        if self._held is not None:
            # Emitted while the session was starting (the greeting's first
            # state change): the peer must see session.started first.
            self._held.append(wire)
        else:
            self.events.send(wire)

    def _on_agent_audio(self, frame: AudioFrame) -> None:
        self.track.push(frame.pcm)

    # ------------------------------------------------------------ inbound media

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio":
            return
        self._spawn(self._read_audio(track))

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        loop = self._loop
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.last_media_at = now = loop.time()
            session = self.session
            try:
                pcm_frames = self.reader.push(frame)  # type: ignore[arg-type]
            except InvalidAudioError:
                self.bad_audio_frames += 1
                metrics.BAD_MESSAGES.labels(TRANSPORT, "bad_audio").inc()
                continue
            if session is None:
                continue  # media before the session opened: nobody to hear it
            # The decoded frame ended on arrival: date each pipeline frame back from now.
            count = len(pcm_frames)
            for back, pcm in zip(range(count, 0, -1), pcm_frames, strict=True):
                session.push_audio(AudioFrame(pcm, PIPELINE_RATE, now - back * FRAME_SECS))

    # ------------------------------------------------------------ data channel

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != CHANNEL_LABEL or self.events.attached:
            channel.close()
            return
        channel.on("message", self._on_message)
        self.events.attach(channel)

    def _on_message(self, data: str | bytes) -> None:
        if self.state is PeerState.CLOSED:
            return
        message = parse_client_message(data)
        if isinstance(message, Rejected):
            self._reject(message)
            return
        if isinstance(message, Ping):
            self.events.send({"type": "pong", "id": message.id})
            return
        if isinstance(message, SessionEnd):
            self.close("hangup")
            return
        session = self.session
        if session is None:
            self._reject(Rejected("not_started", f"wait for session.started before {message.type}"))
        elif isinstance(message, InputText):
            session.push_text(message.text)
        elif isinstance(message, Interrupt):
            session.interrupt()

    def _reject(self, rejected: Rejected) -> None:
        self.bad_messages += 1
        metrics.BAD_MESSAGES.labels(TRANSPORT, rejected.code).inc()
        error: dict[str, Any] = {
            "type": "error",
            "code": rejected.code,
            "message": rejected.message,
            "fatal": False,
        }
        self.events.send(error)
        if self.bad_messages > MAX_BAD_MESSAGES:
            self.close("bad_messages")

    # ------------------------------------------------------------ teardown

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self, reason: CloseReason) -> asyncio.Task[None]:
        """Start teardown (idempotent); the returned task finishes when all is released."""
        if self._closing is None:
            self._to(PeerState.CLOSED)
            self.close_reason = reason
            self._closing = self._loop.create_task(self._teardown(reason))
        return self._closing

    async def _teardown(self, reason: CloseReason) -> None:
        timeout = self.limits.close_timeout
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self.events.send({"type": "session.ended", "reason": reason})
        await self.events.drain(GOODBYE_SECONDS)
        opening = self._opening
        if opening is not None and not opening.done():
            # Never cancel a half-opened session (it would leak its STT stream):
            # let it finish, then close it like any other.
            await asyncio.wait({opening}, timeout=timeout)
        await self.runtime.close_session(self.session_id, TRANSPORT)
        self.session = None
        self.track.stop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), timeout)
        self.events.detach()
        webrtc_metrics.CLOSED.labels(reason).inc()
        self._on_closed(self)
        log.debug("webrtc %s closed: %s", self.session_id, reason)
