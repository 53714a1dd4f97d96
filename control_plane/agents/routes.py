"""Agents CRUD, publishing and versions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict

from control_plane.agents import service
from control_plane.agents.config import AgentConfig, AgentConfigPatch, AgentType
from control_plane.api.context import RequestContext, require
from control_plane.api.schemas import ApiModel, Deleted, Id, Name, Slug, example
from tenancy.permissions import Permission as P

router = APIRouter(prefix="/v1/agents", tags=["agents"])
VersionNumber = Annotated[int, Path(ge=1, le=1_000_000)]


class AgentIn(ApiModel):
    name: Name
    type: AgentType = "hybrid"
    slug: Slug | None = None
    config: AgentConfig = AgentConfig()

    model_config = example(name="Front desk", type="voice", config={"greeting": "Hi!"})


class AgentPatchIn(ApiModel):
    name: Name | None = None
    type: AgentType | None = None
    slug: Slug | None = None
    config: AgentConfigPatch = AgentConfigPatch()

    model_config = example(config={"system_prompt": "Be brief."})


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    slug: str
    name: str
    type: str
    draft: dict[str, Any]
    published_version: int | None
    created_at: datetime
    updated_at: datetime


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    agent_id: str
    version: int
    config: dict[str, Any]
    created_by: str | None
    created_at: datetime


@router.get("", name="agents.list")
async def list_agents(ctx: Annotated[RequestContext, require(P.AGENTS_READ)]) -> list[AgentOut]:
    return [AgentOut.model_validate(a) for a in await service.list_agents(ctx.session)]


@router.post("", status_code=201, name="agents.create")
async def create_agent(
    body: AgentIn, ctx: Annotated[RequestContext, require(P.AGENTS_WRITE)]
) -> AgentOut:
    agent = await service.create_agent(
        ctx.session, name=body.name, type_=body.type, slug=body.slug, config=body.config
    )
    ctx.audit_details = {"agent_id": agent.id}
    return AgentOut.model_validate(agent)


@router.get("/{agent_id}", name="agents.get")
async def get_agent(
    agent_id: Id, ctx: Annotated[RequestContext, require(P.AGENTS_READ)]
) -> AgentOut:
    return AgentOut.model_validate(await service.get_agent(ctx.session, agent_id))


@router.patch("/{agent_id}", name="agents.update")
async def patch_agent(
    agent_id: Id, body: AgentPatchIn, ctx: Annotated[RequestContext, require(P.AGENTS_WRITE)]
) -> AgentOut:
    agent = await service.update_draft(
        ctx.session,
        agent_id,
        name=body.name,
        type_=body.type,
        slug=body.slug,
        patch=body.config,
    )
    return AgentOut.model_validate(agent)


@router.delete("/{agent_id}", name="agents.delete")
async def delete_agent(
    agent_id: Id, ctx: Annotated[RequestContext, require(P.AGENTS_WRITE)]
) -> Deleted:
    await service.delete_agent(ctx.session, agent_id)
    return Deleted(id=agent_id)


@router.post("/{agent_id}/publish", status_code=201, name="agents.publish")
async def publish_agent(
    agent_id: Id, ctx: Annotated[RequestContext, require(P.AGENTS_PUBLISH)]
) -> VersionOut:
    version = await service.publish(ctx.session, agent_id, ctx.principal.user_id)
    ctx.audit_details = {"version": version.version}
    return VersionOut.model_validate(version)


@router.get("/{agent_id}/versions", name="agents.versions")
async def list_versions(
    agent_id: Id, ctx: Annotated[RequestContext, require(P.AGENTS_READ)]
) -> list[VersionOut]:
    return [
        VersionOut.model_validate(v) for v in await service.list_versions(ctx.session, agent_id)
    ]


@router.get("/{agent_id}/versions/{version}", name="agents.version")
async def get_version(
    agent_id: Id, version: VersionNumber, ctx: Annotated[RequestContext, require(P.AGENTS_READ)]
) -> VersionOut:
    return VersionOut.model_validate(await service.get_version(ctx.session, agent_id, version))


@router.post("/{agent_id}/versions/{version}/activate", name="agents.activate_version")
async def activate_version(
    agent_id: Id, version: VersionNumber, ctx: Annotated[RequestContext, require(P.AGENTS_PUBLISH)]
) -> AgentOut:
    return AgentOut.model_validate(await service.rollback_to(ctx.session, agent_id, version))
