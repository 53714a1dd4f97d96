"""Process-wide voice machinery shared by every transport.

One playout clock paces all sessions; one provider registry shares loaded
models; agents are resolved here (from a file until the control plane holds
them); every turn's timeline lands in metrics and a bounded recent-turns log
that the latency dashboard reads.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from control_plane.voice import metrics
from media.clock import PlayoutClock
from media.vad.base import DeferredVoiceActivityDetector, VoiceActivityDetector
from media.vad.silero import SileroBatch
from media.vad.webrtc import WebRtcVad
from media.vad.worker import SileroWorker
from pipelines.agent import AgentSpec
from pipelines.events import ErrorEvent, SessionEvent, TurnMetrics
from pipelines.knowledge import Retriever
from pipelines.providers.registry import ProviderRegistry
from pipelines.session import AudioSink, EventSink, PlaybackLag, VoiceSession

log = logging.getLogger(__name__)

AgentResolver = Callable[[str, str | None], Awaitable[AgentSpec]]
RetrieverFactory = Callable[[str, tuple[str, ...]], Retriever | None]

STAGES = (
    ("stt", "vad_end_confirmed", "stt_final"),
    ("llm_first_token", "llm_request", "llm_first_token"),
    ("tts_first_audio", "llm_first_token", "tts_first_audio"),
)


class UnknownAgent(LookupError):
    pass


class Unauthorized(PermissionError):
    pass


@dataclass(frozen=True, slots=True)
class TurnRecord:
    session_id: str
    transport: str
    agent_id: str
    metrics: TurnMetrics
    # The agent's organisation (None: a locally configured agent); ops views filter on it.
    org_id: str | None = None


class VoiceRuntime:
    def __init__(
        self,
        registry: ProviderRegistry,
        agents: dict[str, AgentSpec] | None = None,
        *,
        resolver: AgentResolver | None = None,
        max_sessions: int = 1000,
    ) -> None:
        self.registry = registry
        self.agents = agents or {}
        self.resolver = resolver
        self.max_sessions = max_sessions
        self.clock = PlayoutClock()
        self.sessions: dict[str, VoiceSession] = {}
        self.recent_turns: deque[TurnRecord] = deque(maxlen=2000)
        self._silero_batch: SileroBatch | None = None
        self._silero_worker: SileroWorker | None = None
        self._vads: dict[str, VoiceActivityDetector | DeferredVoiceActivityDetector] = {}
        self._orgs: dict[str, tuple[str, str]] = {}  # session id -> (org id, transport)
        # Builds a retriever over an organisation's knowledge bases (the control plane sets it).
        self.retriever_factory: RetrieverFactory | None = None

    async def start(self) -> None:
        await self.clock.start()

    async def aclose(self) -> None:
        for session in list(self.sessions.values()):
            await session.aclose()
        self.sessions.clear()
        await self.clock.aclose()
        if self._silero_worker is not None:
            await self._silero_worker.aclose()

    async def warm_up(self) -> None:
        """Load the local models of the known agents now, not on the first call."""
        for spec in self.agents.values():
            for specs, build in (
                (spec.stt, self.registry.stt),
                (spec.llm, self.registry.llm),
                (spec.tts, self.registry.tts),
            ):
                try:
                    provider = build(specs)
                    warm = getattr(provider, "warm_up", None)
                    if warm is not None:
                        await warm()
                except Exception as exc:
                    log.warning(
                        "could not prepare %s providers of agent %s: %s",
                        [p.name for p in specs],
                        spec.id,
                        exc,
                    )

    async def resolve(self, agent_id: str, credential: str | None) -> AgentSpec:
        if self.resolver is not None:
            return await self.resolver(agent_id, credential)
        spec = self.agents.get(agent_id)
        if spec is None:
            raise UnknownAgent(agent_id)
        return spec

    def make_vad(self, spec: AgentSpec) -> VoiceActivityDetector | DeferredVoiceActivityDetector:
        if spec.vad == "silero":
            # One worker thread scores every session's windows (media.vad.worker).
            if self._silero_worker is None:
                from media.vad.worker import SileroWorker

                self._silero_worker = SileroWorker()
            return self._silero_worker.open_stream()
        if spec.vad == "silero_per_session":
            from media.vad.silero import SileroVad

            return SileroVad()
        if spec.vad == "silero_batched":
            if self._silero_batch is None:
                from media.vad.silero import SileroBatch

                self._silero_batch = SileroBatch()
                self.clock.register(self._silero_batch.tick)
            return self._silero_batch.open_stream()
        return WebRtcVad()

    def _retriever(self, spec: AgentSpec) -> Retriever | None:
        if self.retriever_factory is None or not spec.org_id or not spec.knowledge_base_ids:
            return None
        return self.retriever_factory(spec.org_id, spec.knowledge_base_ids)

    @property
    def full(self) -> bool:
        return len(self.sessions) >= self.max_sessions

    async def open_session(
        self,
        session_id: str,
        spec: AgentSpec,
        *,
        transport: str,
        on_event: EventSink,
        on_audio: AudioSink,
        playback_lag: PlaybackLag | None = None,
    ) -> VoiceSession:
        def observe(event: SessionEvent) -> None:
            if isinstance(event, TurnMetrics):
                self._record(session_id, transport, spec.id, event, spec.org_id)
            on_event(event)

        vad = self.make_vad(spec)
        self._vads[session_id] = vad
        session = VoiceSession(
            stt=self.registry.stt(spec.stt),
            llm=self.registry.llm(spec.llm),
            tts=self.registry.tts(spec.tts),
            vad=vad,
            clock=self.clock,
            on_event=observe,
            on_audio=on_audio,
            config=spec.conversation(),
            playback_lag=playback_lag,
            retriever=self._retriever(spec),
        )
        await session.start()
        self.sessions[session_id] = session
        if spec.org_id:
            self._orgs[session_id] = (spec.org_id, transport)
        metrics.SESSIONS_TOTAL.labels(transport).inc()
        metrics.SESSIONS_ACTIVE.labels(transport).inc()
        return session

    async def close_session(self, session_id: str, transport: str) -> None:
        self._orgs.pop(session_id, None)
        vad = self._vads.pop(session_id, None)
        close = getattr(vad, "close", None)
        if close is not None:
            close()
        session = self.sessions.pop(session_id, None)
        if session is not None:
            metrics.SESSIONS_ACTIVE.labels(transport).dec()
            await session.aclose()

    async def end_sessions_of(self, org_id: str) -> int:
        """End every live session of an organisation (it was suspended)."""
        ended = 0
        for session_id, (org, transport) in list(self._orgs.items()):
            if org != org_id:
                continue
            session = self.sessions.get(session_id)
            if session is not None:
                session.emit(
                    ErrorEvent(code="org_suspended", message="organisation suspended", fatal=True)
                )
            await self.close_session(session_id, transport)
            ended += 1
        return ended

    def live_sessions_of(self, org_id: str) -> int:
        return sum(1 for org, _ in self._orgs.values() if org == org_id)

    def _record(
        self, session_id: str, transport: str, agent_id: str, m: TurnMetrics, org_id: str | None
    ) -> None:
        self.recent_turns.append(TurnRecord(session_id, transport, agent_id, m, org_id))
        outcome = "interrupted" if "interrupted" in m.marks else "completed"
        metrics.TURNS.labels(outcome).inc()
        if m.voice_to_voice_ms is not None:
            metrics.VOICE_TO_VOICE.observe(m.voice_to_voice_ms / 1000)
        for stage, start, end in STAGES:
            if start in m.marks and end in m.marks:
                metrics.STAGE_LATENCY.labels(stage).observe(m.marks[end] - m.marks[start])
