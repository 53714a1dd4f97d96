"""Teams and custom roles within the caller's organisation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from control_plane.api.context import RequestContext, require
from control_plane.api.schemas import ApiModel, Deleted, Id, Name, ShortText, example
from tenancy import roles, teams
from tenancy.permissions import Permission as P

router = APIRouter(prefix="/v1", tags=["teams and roles"])
PermissionName = Annotated[str, Field(max_length=50)]


class TeamIn(ApiModel):
    name: Name
    description: ShortText = ""

    model_config = example(name="Support", description="Front line")


class TeamPatchIn(ApiModel):
    name: Name | None = None
    description: ShortText | None = None

    model_config = example(description="Second line")


class TeamOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    description: str
    created_at: datetime


class TeamMemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    team_id: str
    user_id: str
    created_at: datetime


class RoleIn(ApiModel):
    name: Name
    permissions: list[PermissionName] = Field(max_length=64)

    model_config = example(name="Agent editor", permissions=["agents.read", "agents.write"])


class RolePatchIn(ApiModel):
    name: Name | None = None
    permissions: list[PermissionName] | None = Field(default=None, max_length=64)

    model_config = example(permissions=["agents.read"])


class RoleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    permissions: list[str]
    created_at: datetime


@router.get("/permissions", name="permissions.list")
async def list_permissions(ctx: Annotated[RequestContext, require(P.ROLES_READ)]) -> list[str]:
    return [p.value for p in P]


@router.get("/teams", name="teams.list")
async def list_teams(ctx: Annotated[RequestContext, require(P.TEAMS_READ)]) -> list[TeamOut]:
    return [TeamOut.model_validate(t) for t in await teams.list_teams(ctx.session)]


@router.post("/teams", status_code=201, name="teams.create")
async def create_team(
    body: TeamIn, ctx: Annotated[RequestContext, require(P.TEAMS_MANAGE)]
) -> TeamOut:
    team = await teams.create_team(ctx.session, name=body.name, description=body.description)
    return TeamOut.model_validate(team)


@router.get("/teams/{team_id}", name="teams.get")
async def get_team(team_id: Id, ctx: Annotated[RequestContext, require(P.TEAMS_READ)]) -> TeamOut:
    return TeamOut.model_validate(await teams.get_team(ctx.session, team_id))


@router.patch("/teams/{team_id}", name="teams.update")
async def patch_team(
    team_id: Id, body: TeamPatchIn, ctx: Annotated[RequestContext, require(P.TEAMS_MANAGE)]
) -> TeamOut:
    team = await teams.update_team(
        ctx.session, team_id, name=body.name, description=body.description
    )
    return TeamOut.model_validate(team)


@router.delete("/teams/{team_id}", name="teams.delete")
async def delete_team(
    team_id: Id, ctx: Annotated[RequestContext, require(P.TEAMS_MANAGE)]
) -> Deleted:
    await teams.delete_team(ctx.session, team_id)
    return Deleted(id=team_id)


@router.get("/teams/{team_id}/members", name="teams.members")
async def list_team_members(
    team_id: Id, ctx: Annotated[RequestContext, require(P.TEAMS_READ)]
) -> list[TeamMemberOut]:
    return [TeamMemberOut.model_validate(m) for m in await teams.team_members(ctx.session, team_id)]


@router.put("/teams/{team_id}/members/{user_id}", name="teams.add_member")
async def add_team_member(
    team_id: Id, user_id: Id, ctx: Annotated[RequestContext, require(P.TEAMS_MANAGE)]
) -> TeamMemberOut:
    return TeamMemberOut.model_validate(await teams.add_team_member(ctx.session, team_id, user_id))


@router.delete("/teams/{team_id}/members/{user_id}", name="teams.remove_member")
async def remove_team_member(
    team_id: Id, user_id: Id, ctx: Annotated[RequestContext, require(P.TEAMS_MANAGE)]
) -> Deleted:
    await teams.remove_team_member(ctx.session, team_id, user_id)
    return Deleted(id=user_id)


@router.get("/roles", name="roles.list")
async def list_roles(ctx: Annotated[RequestContext, require(P.ROLES_READ)]) -> list[RoleOut]:
    return [RoleOut.model_validate(r) for r in await roles.list_roles(ctx.session)]


@router.post("/roles", status_code=201, name="roles.create")
async def create_role(
    body: RoleIn, ctx: Annotated[RequestContext, require(P.ROLES_MANAGE)]
) -> RoleOut:
    role = await roles.create_role(
        ctx.session, ctx.principal, name=body.name, permissions=body.permissions
    )
    return RoleOut.model_validate(role)


@router.get("/roles/{role_id}", name="roles.get")
async def get_role(role_id: Id, ctx: Annotated[RequestContext, require(P.ROLES_READ)]) -> RoleOut:
    return RoleOut.model_validate(await roles.get_role(ctx.session, role_id))


@router.patch("/roles/{role_id}", name="roles.update")
async def patch_role(
    role_id: Id, body: RolePatchIn, ctx: Annotated[RequestContext, require(P.ROLES_MANAGE)]
) -> RoleOut:
    role = await roles.update_role(
        ctx.session, ctx.principal, role_id, name=body.name, permissions=body.permissions
    )
    return RoleOut.model_validate(role)


@router.delete("/roles/{role_id}", name="roles.delete")
async def delete_role(
    role_id: Id, ctx: Annotated[RequestContext, require(P.ROLES_MANAGE)]
) -> Deleted:
    await roles.delete_role(ctx.session, role_id)
    return Deleted(id=role_id)
