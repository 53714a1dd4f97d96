"""Agent storage rules: slugs, draft edits, publishing immutable versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.agents.config import AgentConfig, AgentConfigPatch
from control_plane.agents.models import Agent, AgentVersion
from tenancy.db.base import utcnow
from tenancy.errors import Conflict, InvalidInput, NotFound
from tenancy.orgs import slugify


async def get_agent(session: AsyncSession, ref: str) -> Agent:
    """By id or slug, within the session's organisation."""
    agent = await session.scalar(select(Agent).where(or_(Agent.id == ref, Agent.slug == ref)))
    if agent is None:
        raise NotFound("agent not found")
    return agent


async def list_agents(session: AsyncSession) -> Sequence[Agent]:
    return (await session.scalars(select(Agent).order_by(Agent.created_at, Agent.id))).all()


async def create_agent(
    session: AsyncSession, *, name: str, type_: str, slug: str | None, config: AgentConfig
) -> Agent:
    slug = slug or slugify(name)
    if await session.scalar(select(Agent.id).where(Agent.slug == slug)):
        raise Conflict("an agent with this slug exists")
    agent = Agent(name=name, slug=slug, type=type_, draft=config.model_dump(mode="json"))
    session.add(agent)
    await session.flush()
    return agent


async def update_draft(
    session: AsyncSession,
    agent_id: str,
    *,
    name: str | None,
    type_: str | None,
    slug: str | None,
    patch: AgentConfigPatch,
) -> Agent:
    agent = await get_agent(session, agent_id)
    if slug is not None and slug != agent.slug:
        if await session.scalar(select(Agent.id).where(Agent.slug == slug)):
            raise Conflict("an agent with this slug exists")
        agent.slug = slug
    if name is not None:
        agent.name = name
    if type_ is not None:
        agent.type = type_
    changes = patch.model_dump(mode="json", exclude_unset=True)
    if changes:
        merged = {**agent.draft, **changes}
        # Re-validate the whole draft, so stored drafts are always complete.
        agent.draft = AgentConfig.model_validate(merged).model_dump(mode="json")
    agent.updated_at = utcnow()
    await session.flush()
    return agent


async def delete_agent(session: AsyncSession, agent_id: str) -> None:
    agent = await get_agent(session, agent_id)
    await session.delete(agent)
    await session.flush()


def snapshot(agent: Agent) -> dict[str, Any]:
    return {"name": agent.name, "type": agent.type, **agent.draft}


async def publish(session: AsyncSession, agent_id: str, user_id: str | None) -> AgentVersion:
    agent = await get_agent(session, agent_id)
    latest = await session.scalar(
        select(func.max(AgentVersion.version)).where(AgentVersion.agent_id == agent.id)
    )
    version = AgentVersion(
        agent_id=agent.id,
        version=int(latest or 0) + 1,
        config=snapshot(agent),
        created_by=user_id,
    )
    session.add(version)
    agent.published_version = version.version
    agent.updated_at = utcnow()
    await session.flush()
    return version


async def list_versions(session: AsyncSession, agent_id: str) -> Sequence[AgentVersion]:
    agent = await get_agent(session, agent_id)
    return (
        await session.scalars(
            select(AgentVersion)
            .where(AgentVersion.agent_id == agent.id)
            .order_by(AgentVersion.version.desc())
        )
    ).all()


async def get_version(session: AsyncSession, agent_id: str, version: int) -> AgentVersion:
    agent = await get_agent(session, agent_id)
    row = await session.scalar(
        select(AgentVersion).where(
            AgentVersion.agent_id == agent.id, AgentVersion.version == version
        )
    )
    if row is None:
        raise NotFound("version not found")
    return row


async def rollback_to(session: AsyncSession, agent_id: str, version: int) -> Agent:
    """Points the live agent at an earlier version (versions themselves never change)."""
    row = await get_version(session, agent_id, version)
    agent = await get_agent(session, agent_id)
    agent.published_version = row.version
    agent.updated_at = utcnow()
    await session.flush()
    return agent


def require_published(agent: Agent) -> int:
    if agent.published_version is None:
        raise InvalidInput("agent has no published version yet")
    return agent.published_version
