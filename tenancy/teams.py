"""Teams within an organisation and their members (who must be org members)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.errors import Conflict, NotFound
from tenancy.models import Membership, Team, TeamMember


async def list_teams(session: AsyncSession) -> Sequence[Team]:
    return (await session.scalars(select(Team).order_by(Team.name))).all()


async def get_team(session: AsyncSession, team_id: str) -> Team:
    team = await session.scalar(select(Team).where(Team.id == team_id))
    if team is None:
        raise NotFound("team not found")
    return team


async def create_team(session: AsyncSession, *, name: str, description: str = "") -> Team:
    if await session.scalar(select(Team.id).where(Team.name == name)):
        raise Conflict("a team with this name exists")
    team = Team(name=name, description=description)
    session.add(team)
    await session.flush()
    return team


async def update_team(
    session: AsyncSession, team_id: str, *, name: str | None, description: str | None
) -> Team:
    team = await get_team(session, team_id)
    if name is not None and name != team.name:
        if await session.scalar(select(Team.id).where(Team.name == name)):
            raise Conflict("a team with this name exists")
        team.name = name
    if description is not None:
        team.description = description
    await session.flush()
    return team


async def delete_team(session: AsyncSession, team_id: str) -> None:
    team = await get_team(session, team_id)
    # Statements, not object deletes: the unit of work does not order these two tables.
    await session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    await session.delete(team)
    await session.flush()


async def team_members(session: AsyncSession, team_id: str) -> Sequence[TeamMember]:
    await get_team(session, team_id)
    return (
        await session.scalars(
            select(TeamMember).where(TeamMember.team_id == team_id).order_by(TeamMember.created_at)
        )
    ).all()


async def add_team_member(session: AsyncSession, team_id: str, user_id: str) -> TeamMember:
    team = await get_team(session, team_id)
    # Scoped query: a person outside this organisation is simply not found.
    if await session.scalar(select(Membership.id).where(Membership.user_id == user_id)) is None:
        raise NotFound("member not found")
    existing = await session.scalar(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user_id)
    )
    if existing is not None:
        return existing
    member = TeamMember(team_id=team.id, user_id=user_id)
    session.add(member)
    await session.flush()
    return member


async def remove_team_member(session: AsyncSession, team_id: str, user_id: str) -> None:
    await get_team(session, team_id)
    member = await session.scalar(
        select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    )
    if member is None:
        raise NotFound("team member not found")
    await session.delete(member)
    await session.flush()
