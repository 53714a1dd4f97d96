"""What a live session needs to know about its agent, resolved from a credential.

The voice layer (WebSocket, WebRTC, Twilio) and text chat call this to turn
"credential + agent id or slug" into the organisation and the agent's
*published* configuration, as plain frozen data. A revoked key, an ended login,
a suspended organisation or a missing permission stops it here.

    resolved = await resolve_agent_for_session(credential, "front-desk")
    spec = resolved.to_agent_spec()   # pipelines.agent.AgentSpec for VoiceSession
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.agents import service
from control_plane.agents.config import AgentConfig
from control_plane.credentials.crypto import SecretBox
from control_plane.credentials.service import secret_for
from control_plane.services import Services
from pipelines.agent import AgentSpec, ProviderSpec
from tenancy.auth import Credential, authenticate
from tenancy.errors import AuthenticationError, NotFound, OrgSuspended
from tenancy.permissions import Permission

RejectCode = Literal[
    "unauthenticated", "forbidden", "org_suspended", "agent_not_found", "not_published"
]
_STATUS: dict[RejectCode, int] = {
    "unauthenticated": 401,
    "forbidden": 403,
    "org_suspended": 403,
    "agent_not_found": 404,
    "not_published": 409,
}


class SessionRejected(Exception):
    """The session may not start; ``code`` says why, ``status`` is the HTTP analogue."""

    def __init__(self, code: RejectCode, message: str) -> None:
        super().__init__(message)
        self.code: RejectCode = code
        self.status = _STATUS[code]


@dataclass(frozen=True, slots=True)
class ResolvedProvider:
    provider: str
    # Read-only; holds "api_key" when the organisation stored a credential for it.
    options: Mapping[str, Any] = field(repr=False)

    def spec(self) -> ProviderSpec:
        return ProviderSpec(self.provider, dict(self.options))


@dataclass(frozen=True, slots=True)
class ResolvedVoice:
    voice: str | None
    language: str
    speaking_rate: float


@dataclass(frozen=True, slots=True)
class ResolvedLimits:
    max_session_seconds: int
    max_turns: int
    max_reply_tokens: int
    max_history_messages: int


@dataclass(frozen=True, slots=True)
class ResolvedAgent:
    org_id: str
    agent_id: str
    slug: str
    name: str
    type: str
    # None when this is the draft (text chat testing before publishing).
    version: int | None
    description: str
    avatar_url: str | None
    personality: str
    system_prompt: str
    greeting: str | None
    llm: tuple[ResolvedProvider, ...]
    stt: tuple[ResolvedProvider, ...]
    tts: tuple[ResolvedProvider, ...]
    voice: ResolvedVoice
    knowledge_base_ids: tuple[str, ...]
    limits: ResolvedLimits
    # Who opened the session (for metering and audit).
    user_id: str | None = None
    api_key_id: str | None = None

    def to_agent_spec(self) -> AgentSpec:
        """The pipelines' view of this agent (voice sessions run on it)."""
        prompt = self.system_prompt
        if self.personality:
            prompt = f"{prompt}\n\nPersonality: {self.personality}"
        return AgentSpec(
            id=self.agent_id,
            name=self.name,
            system_prompt=prompt,
            greeting=self.greeting,
            language=self.voice.language,
            stt=tuple(p.spec() for p in self.stt),
            llm=tuple(p.spec() for p in self.llm),
            tts=tuple(p.spec() for p in self.tts),
            org_id=self.org_id,
            knowledge_base_ids=tuple(self.knowledge_base_ids),
        )


async def _providers(
    session: AsyncSession, box: SecretBox, entries: list[Any]
) -> tuple[ResolvedProvider, ...]:
    out = []
    for entry in entries:
        options = dict(entry.options)
        secret = await secret_for(
            session, box, provider=entry.provider, credential_id=entry.credential_id
        )
        if secret is not None:
            options["api_key"] = secret
        out.append(ResolvedProvider(entry.provider, MappingProxyType(options)))
    return tuple(out)


async def load_agent(
    session: AsyncSession,
    box: SecretBox,
    agent_ref: str,
    *,
    draft: bool = False,
    version: int | None = None,
    user_id: str | None = None,
    api_key_id: str | None = None,
) -> ResolvedAgent:
    """Resolves within the session's organisation: the draft, a given version, or
    (the default) the published version."""
    agent = await service.get_agent(session, agent_ref)
    raw: dict[str, Any]
    if draft:
        raw, version = service.snapshot(agent), None
    else:
        version = version if version is not None else agent.published_version
        if version is None:
            raise SessionRejected("not_published", "agent has no published version")
        raw = (await service.get_version(session, agent.id, version)).config
    config = AgentConfig.model_validate({k: v for k, v in raw.items() if k not in ("name", "type")})
    return ResolvedAgent(
        org_id=agent.org_id,
        agent_id=agent.id,
        slug=agent.slug,
        name=str(raw.get("name", agent.name)),
        type=str(raw.get("type", agent.type)),
        version=version,
        description=config.description,
        avatar_url=config.avatar_url,
        personality=config.personality,
        system_prompt=config.system_prompt,
        greeting=config.greeting,
        llm=await _providers(session, box, config.llm),
        stt=await _providers(session, box, config.stt),
        tts=await _providers(session, box, config.tts),
        voice=ResolvedVoice(**config.voice.model_dump()),
        knowledge_base_ids=tuple(config.knowledge_base_ids),
        limits=ResolvedLimits(**config.limits.model_dump()),
        user_id=user_id,
        api_key_id=api_key_id,
    )


# The services of the app assembled in this process (one slot).
_installed: dict[str, Services] = {}


def install(services: Services) -> None:
    """Called by the app at assembly, so the voice layer needs no handle to pass."""
    _installed["services"] = services


async def resolve_agent_for_session(
    credential: str,
    agent_ref: str,
    *,
    org_ref: str | None = None,
    services: Services | None = None,
) -> ResolvedAgent:
    """Raises ``SessionRejected``. ``credential``: an API key with ``agents.use`` or a
    login session token (then ``org_ref`` picks among the person's organisations)."""
    services = services or _installed.get("services")
    if services is None:
        raise RuntimeError("control plane not installed in this process")
    try:
        principal = await authenticate(
            services.db, Credential(token=credential, org_ref=org_ref, need_org=True)
        )
    except AuthenticationError as exc:
        raise SessionRejected("unauthenticated", exc.message) from None
    except OrgSuspended as exc:
        raise SessionRejected("org_suspended", exc.message) from None
    except NotFound as exc:
        raise SessionRejected("agent_not_found", exc.message) from None
    if not principal.can(Permission.AGENTS_USE):
        raise SessionRejected("forbidden", "credential lacks agents.use")
    assert principal.org_id is not None
    try:
        async with services.db.tenant(principal.org_id) as session:
            return await load_agent(
                session,
                services.secret_box,
                agent_ref,
                user_id=principal.user_id,
                api_key_id=principal.api_key_id,
            )
    except NotFound:
        raise SessionRejected("agent_not_found", "agent not found") from None


VoiceAgentResolver = Callable[[str, str | None], Awaitable[AgentSpec]]


def voice_resolver(services: Services) -> VoiceAgentResolver:
    """Adapter to ``control_plane.voice.runtime.AgentResolver`` (agent id, credential)."""
    from control_plane.voice.runtime import Unauthorized, UnknownAgent

    async def resolve(agent_ref: str, credential: str | None) -> AgentSpec:
        if not credential:
            raise Unauthorized("a credential is required")
        try:
            resolved = await resolve_agent_for_session(credential, agent_ref, services=services)
        except SessionRejected as exc:
            if exc.code in ("agent_not_found", "not_published"):
                raise UnknownAgent(agent_ref) from exc
            raise Unauthorized(str(exc)) from exc
        return resolved.to_agent_spec()

    return resolve


__all__ = [
    "ResolvedAgent",
    "ResolvedLimits",
    "ResolvedProvider",
    "ResolvedVoice",
    "SessionRejected",
    "load_agent",
    "resolve_agent_for_session",
    "voice_resolver",
]
