"""Admits WebRTC calls (key, agent, capacity) and keeps the live ones.

One gateway per process (``app.state.webrtc``). It answers offers, hangs calls
up on request, ends the calls of a suspended organisation, and closes every
call at shutdown, before the voice runtime stops, so no session outlives its
peer connection.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from control_plane.voice.runtime import VoiceRuntime
from control_plane.webrtc import metrics
from control_plane.webrtc.admission import WidgetAdmitter, WidgetRejected
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
        admitter: WidgetAdmitter,
        *,
        ice_servers: list[IceServer] | None = None,
        limits: PeerLimits | None = None,
        max_peers: int | None = None,
    ) -> None:
        self.runtime = runtime
        self.admitter = admitter
        self.ice_servers = list(ice_servers or [])
        self.limits = limits or PeerLimits()
        self.max_peers = max_peers if max_peers is not None else runtime.max_sessions
        self.peers: dict[str, WebRtcPeer] = {}
        self.closed_by_reason: Counter[str] = Counter()
        self._closing = False

    async def offer(self, request: OfferRequest, origin: str | None = None) -> AnswerResponse:
        if self._closing:
            raise OfferRejected(503, "overloaded", "server is shutting down")
        try:
            spec = await self.admitter.admit(request.key, request.agent, origin)
        except WidgetRejected as rejected:
            metrics.OFFERS.labels(rejected.code).inc()
            raise OfferRejected(rejected.status, rejected.code, rejected.message) from None
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

    async def end_sessions_of(self, org_id: str) -> int:
        """Ends every call of an organisation (it was suspended), connected or not."""
        calls = [p for p in self.peers.values() if p.spec.org_id == org_id]
        if calls:
            await asyncio.wait(
                [p.close("org_suspended") for p in calls], timeout=2 * self.limits.close_timeout
            )
        return len(calls)

    async def aclose(self) -> None:
        self._closing = True
        closing = [peer.close("server_shutdown") for peer in list(self.peers.values())]
        if closing:
            await asyncio.wait(closing, timeout=2 * self.limits.close_timeout)

    def _forget(self, peer: WebRtcPeer) -> None:
        self.peers.pop(peer.session_id, None)
        self.closed_by_reason[peer.close_reason or "unknown"] += 1
