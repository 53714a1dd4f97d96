"""What the Twilio side asks the control plane while a call is set up.

- ``PlatformNumberDirectory``: the called number -> its organisation, its agent
  and whether the line may take calls now (organisation active, agent published).
- ``PhoneLineHost``: the session host a media stream opens its session through;
  it resolves a control-plane agent's *published* version (the same
  ``load_agent`` the WebSocket path uses) and refuses a suspended organisation
  or an unpublished agent, then delegates to the voice runtime. Agents the
  control plane does not hold (the local file agents) go to the runtime as before.

Both read platform-wide on purpose: a phone call carries no credential, the
number (or the agent id a signed webhook put in the stream) is the key.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlalchemy import select

from control_plane.agents.models import Agent
from control_plane.agents.resolve import SessionRejected, load_agent
from control_plane.numbers.models import PhoneNumber
from control_plane.numbers.service import to_route
from control_plane.services import Services
from pipelines.agent import AgentSpec
from pipelines.session import AudioSink, EventSink, PlaybackLag, VoiceSession
from telephony.errors import InvalidNumber, InvalidRoute
from telephony.host import SessionHost
from telephony.numbers import Availability, NumberRoute, normalize_number
from tenancy.errors import NotFound
from tenancy.models import Organization

log = logging.getLogger(__name__)


class LineRefused(PermissionError):
    """A control-plane agent whose line may not take calls (suspended organisation)."""


class LineAgentMissing(LookupError):
    """A control-plane agent that is gone or has no published version."""


class PlatformNumberDirectory:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def lookup(self, number: str) -> NumberRoute | None:
        try:
            wanted = normalize_number(number)
        except InvalidNumber:
            return None  # a SIP URI or a client name: never a stored number
        query = (
            select(PhoneNumber, Organization.status, Agent.published_version)
            .join(Organization, Organization.id == PhoneNumber.org_id)
            .outerjoin(
                Agent, (Agent.org_id == PhoneNumber.org_id) & (Agent.id == PhoneNumber.agent_id)
            )
            .where(PhoneNumber.number == wanted)
        )
        async with self.services.db.platform() as session:
            found = (await session.execute(query)).first()
        if found is None:
            return None
        row, org_status, published = found
        availability: Availability = "in_service"
        if org_status != "active":
            availability = "org_suspended"
        elif published is None:
            availability = "not_published"
        try:
            return to_route(row, availability)
        except (InvalidRoute, InvalidNumber) as exc:
            # Validated on the way in; a row that fails now is refused, not crashed on.
            log.error("phone number %s has an unusable route: %s", row.id, exc)
            return NumberRoute(row.number, row.agent_id, org_id=row.org_id,
                               availability="agent_not_found")  # fmt: skip


class PhoneLineHost:
    """A ``telephony.host.SessionHost`` over the app's voice runtime (looked up per
    call: the runtime starts with the app, after this host is made)."""

    def __init__(self, app: FastAPI, services: Services) -> None:
        self.app = app
        self.services = services

    @property
    def runtime(self) -> SessionHost:
        runtime: SessionHost = self.app.state.voice
        return runtime

    @property
    def full(self) -> bool:
        return self.runtime.full

    async def resolve(self, agent_id: str, credential: str | None) -> AgentSpec:
        spec = await self.resolve_line_agent(agent_id)
        if spec is None:
            return await self.runtime.resolve(agent_id, credential)
        return spec

    async def resolve_line_agent(self, agent_id: str) -> AgentSpec | None:
        """The published version of the control-plane agent ``agent_id``; None when
        the control plane holds no such agent. Raises ``LineRefused`` or
        ``LineAgentMissing`` when it does but it may not take a call."""
        db = self.services.db
        async with db.platform() as session:
            found = (
                await session.execute(
                    select(Agent.org_id, Organization.status)
                    .join(Organization, Organization.id == Agent.org_id)
                    .where(Agent.id == agent_id)
                )
            ).first()
        if found is None:
            return None
        org_id, org_status = found
        if org_status != "active":
            raise LineRefused("organisation suspended")
        try:
            async with db.tenant(org_id) as session:
                resolved = await load_agent(session, self.services.secret_box, agent_id)
        except SessionRejected as exc:
            raise LineAgentMissing(str(exc)) from exc
        except NotFound as exc:
            raise LineAgentMissing("agent not found") from exc
        return resolved.to_agent_spec()

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
        return await self.runtime.open_session(
            session_id,
            spec,
            transport=transport,
            on_event=on_event,
            on_audio=on_audio,
            playback_lag=playback_lag,
        )

    async def close_session(self, session_id: str, transport: str) -> None:
        await self.runtime.close_session(session_id, transport)
