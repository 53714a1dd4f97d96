"""The boundaries a media stream talks through, as Protocols.

Telephony never imports the control plane: the app's voice runtime satisfies
``SessionHost`` structurally, the Twilio service satisfies ``CallActions``,
and the WebSocket adapter (or a benchmark) satisfies ``Outbox``.
"""

from __future__ import annotations

from typing import Protocol

from pipelines.agent import AgentSpec
from pipelines.session import AudioSink, EventSink, PlaybackLag, VoiceSession


class SessionHost(Protocol):
    """Opens and closes conversation sessions (``control_plane.voice.runtime.VoiceRuntime``).

    ``resolve`` raises ``LookupError`` for an unknown agent and
    ``PermissionError`` when the agent may not be used.
    """

    @property
    def full(self) -> bool: ...

    async def resolve(self, agent_id: str, credential: str | None) -> AgentSpec: ...

    async def open_session(
        self,
        session_id: str,
        spec: AgentSpec,
        *,
        transport: str,
        on_event: EventSink,
        on_audio: AudioSink,
        playback_lag: PlaybackLag | None = None,
    ) -> VoiceSession: ...

    async def close_session(self, session_id: str, transport: str) -> None: ...


class CallActions(Protocol):
    """Fire-and-forget operations on the live call (REST requests run in the background)."""

    def transfer(self, call_sid: str, number: str) -> None: ...

    def hang_up(self, call_sid: str) -> None: ...


class Outbox(Protocol):
    """Where outgoing Media Streams messages go, in order, without blocking."""

    def send(self, text: str, *, audio: bool = False) -> None:
        """Queue a message; ``audio`` marks media and marks that a ``clear`` may drop."""
        ...

    def drop_audio(self) -> int:
        """Drop queued audio messages not yet on the wire; returns how many."""
        ...
