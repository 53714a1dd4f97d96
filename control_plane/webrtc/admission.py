"""Which agent a widget key opens a session with, or why it opens none.

Two sources of widget keys, tried in order:

- the control plane: publishable API keys (``pk_``) of an organisation, bound
  to one of its agents and to the web origins allowed to use them; the session
  gets that agent's *published* version. A revoked key, a suspended
  organisation, a foreign origin or another agent is refused here.
- settings (``SettingsWidgetKeys``): derived and explicit keys that open the
  locally configured agents (the demo page, servers without accounts).

Every refusal is a ``WidgetRejected`` with an HTTP status and a stable code,
counted in ``cap_widget_rejected_total``.
"""

from __future__ import annotations

from typing import Literal, Protocol

from control_plane.agents.resolve import ResolvedAgent, SessionRejected, load_agent
from control_plane.services import Services
from control_plane.voice.runtime import VoiceRuntime
from control_plane.webrtc import metrics
from control_plane.webrtc.keys import WidgetKeyChecker
from pipelines.agent import AgentSpec
from tenancy.errors import AuthenticationError, NotFound, OrgSuspended, PermissionDenied
from tenancy.publishable import admit_publishable

RejectCode = Literal[
    "unauthorized",
    "key_revoked",
    "org_suspended",
    "origin_not_allowed",
    "unknown_agent",
    "not_published",
]
_STATUS: dict[RejectCode, int] = {
    "unauthorized": 403,
    "key_revoked": 403,
    "org_suspended": 403,
    "origin_not_allowed": 403,
    "unknown_agent": 404,
    "not_published": 409,
}


class WidgetRejected(Exception):
    """No session for this key; ``status`` is the HTTP status to answer with."""

    def __init__(self, code: RejectCode, message: str) -> None:
        super().__init__(message)
        self.code: RejectCode = code
        self.status = _STATUS[code]
        self.message = message
        metrics.WIDGET_REJECTED.labels(code).inc()


class WidgetAdmitter(Protocol):
    async def admit(self, key: str, agent_ref: str, origin: str | None) -> AgentSpec:
        """The agent ``key`` opens from a page at ``origin``; raises ``WidgetRejected``."""
        ...


NOT_GRANTED = "this key does not grant that agent"


class LocalWidgetAdmitter:
    """Settings keys, opening the runtime's locally configured agents."""

    def __init__(self, keys: WidgetKeyChecker, runtime: VoiceRuntime) -> None:
        self.keys = keys
        self.runtime = runtime

    async def admit(self, key: str, agent_ref: str, origin: str | None) -> AgentSpec:
        # The key is checked before the agent is looked up, so a wrong key
        # learns nothing about which agents exist.
        if not await self.keys.grants(key, agent_ref, origin):
            raise WidgetRejected("unauthorized", NOT_GRANTED)
        spec = self.runtime.agents.get(agent_ref)
        if spec is None:
            raise WidgetRejected("unknown_agent", f"no agent {agent_ref!r}")
        return spec


async def resolve_widget_agent(
    services: Services, key: str, agent_ref: str, origin: str | None
) -> ResolvedAgent | None:
    """The published agent a control-plane publishable key opens; None when the
    control plane holds no such key. Raises ``WidgetRejected``."""
    try:
        grant = await admit_publishable(services.db, key, origin)
    except AuthenticationError as exc:
        raise WidgetRejected("key_revoked", exc.message) from None
    except OrgSuspended as exc:
        raise WidgetRejected("org_suspended", exc.message) from None
    except PermissionDenied as exc:
        raise WidgetRejected("origin_not_allowed", exc.message) from None
    if grant is None:
        return None
    try:
        async with services.db.tenant(grant.org_id) as session:
            resolved = await load_agent(
                session, services.secret_box, grant.agent_id, api_key_id=grant.key_id
            )
    except NotFound:
        raise WidgetRejected("unknown_agent", f"no agent {agent_ref!r}") from None
    except SessionRejected as exc:
        raise WidgetRejected("not_published", str(exc)) from None
    # The page names the agent by id or slug; the key grants exactly one.
    if agent_ref not in (resolved.agent_id, resolved.slug):
        raise WidgetRejected("unauthorized", NOT_GRANTED)
    return resolved


class PlatformWidgetAdmitter:
    """Control-plane publishable keys first; keys it does not hold go to ``local``."""

    def __init__(self, services: Services, local: WidgetAdmitter) -> None:
        self.services = services
        self.local = local

    async def admit(self, key: str, agent_ref: str, origin: str | None) -> AgentSpec:
        resolved = await resolve_widget_agent(self.services, key, agent_ref, origin)
        if resolved is None:
            return await self.local.admit(key, agent_ref, origin)
        return resolved.to_agent_spec()
