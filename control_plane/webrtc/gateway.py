"""Admits WebRTC calls (key, agent, capacity) and keeps the live ones.

One gateway per process (``app.state.webrtc``). It answers offers, hangs calls
up on request and closes every call at shutdown, before the voice runtime
stops, so no session outlives its peer connection.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from control_plane.voice.runtime import Unauthorized, UnknownAgent, VoiceRuntime
from control_plane.webrtc import metrics
from control_plane.webrtc.keys import WidgetKeyChecker
from control_plane.webrtc.peer import BadOffer, CloseReason, PeerLimits, WebRtcPeer
from control_plane.webrtc.schemas import AnswerResponse, IceServer, OfferRequest


class OfferRejected(Exception):
    """An offer the gateway will not answer; ``status`` is the HTTP status to send."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class WebRtcGateway:
    def __init__(
        self,
        runtime: VoiceRuntime,
        keys: WidgetKeyChecker,
        *,
        ice_servers: list[IceServer] | None = None,
        limits: PeerLimits | None = None,
        max_peers: int | None = None,
    ) -> None:
        self.runtime = runtime
        self.keys = keys
        self.ice_servers = list(ice_servers or [])
        self.limits = limits or PeerLimits()
        self.max_peers = max_peers if max_peers is not None else runtime.max_sessions
        self.peers: dict[str, WebRtcPeer] = {}
        self.closed_by_reason: Counter[str] = Counter()
        self._closing = False

    async def offer(self, request: OfferRequest, origin: str | None = None) -> AnswerResponse:
        if self._closing:
            raise OfferRejected(503, "overloaded", "server is shutting down")
        # The key is checked before the agent is looked up, so a wrong key
        # learns nothing about which agents exist.
        if not await self.keys.grants(request.key, request.agent, origin):
            metrics.OFFERS.labels("unauthorized").inc()
            raise OfferRejected(403, "unauthorized", "this key does not grant that agent")
        try:
            spec = await self.runtime.resolve(request.agent, request.key)
        except UnknownAgent as exc:
            metrics.OFFERS.labels("unknown_agent").inc()
            raise OfferRejected(404, "unknown_agent", f"no agent {request.agent!r}") from exc
        except Unauthorized as exc:
            metrics.OFFERS.labels("unauthorized").inc()
            raise OfferRejected(403, "unauthorized", str(exc)) from exc
        if len(self.peers) >= self.max_peers or self.runtime.full:
            metrics.OFFERS.labels("overloaded").inc()
            raise OfferRejected(503, "overloaded", "server at capacity, retry later")
        session_id = uuid.uuid4().hex
        peer = WebRtcPeer(
            session_id=session_id,
            spec=spec,
            runtime=self.runtime,
            ice_servers=self.ice_servers,
            limits=self.limits,
            on_closed=self._forget,
        )
        self.peers[session_id] = peer
        try:
            sdp = await peer.answer(request.sdp)
        except BadOffer as exc:
            await peer.close("bad_offer")
            metrics.OFFERS.labels("bad_offer").inc()
            raise OfferRejected(400, "bad_offer", str(exc)) from exc
        except BaseException:
            await asyncio.shield(peer.close("session_failed"))
            raise
        metrics.OFFERS.labels("answered").inc()
        return AnswerResponse(sdp=sdp, session_id=session_id)

    async def hang_up(self, session_id: str, reason: CloseReason = "hangup") -> bool:
        peer = self.peers.get(session_id)
        if peer is None:
            return False
        await peer.close(reason)
        return True

    async def aclose(self) -> None:
        self._closing = True
        closing = [peer.close("server_shutdown") for peer in list(self.peers.values())]
        if closing:
            await asyncio.wait(closing, timeout=2 * self.limits.close_timeout)

    def _forget(self, peer: WebRtcPeer) -> None:
        self.peers.pop(peer.session_id, None)
        self.closed_by_reason[peer.close_reason or "unknown"] += 1
