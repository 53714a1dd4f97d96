"""Memberships: who is in the organisation with which role.

Owners are protected: only an owner may make, change or remove an owner, and
the last owner cannot leave or be demoted.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tenancy.models import CustomRole, Membership, TeamMember, User
from tenancy.permissions import BuiltinRole
from tenancy.principal import Principal

CUSTOM = "custom"


async def list_members(session: AsyncSession) -> Sequence[tuple[Membership, User]]:
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .order_by(Membership.created_at, Membership.id)
    )
    return [(m, u) for m, u in rows]


async def get_membership(session: AsyncSession, membership_id: str) -> Membership:
    membership = await session.scalar(select(Membership).where(Membership.id == membership_id))
    if membership is None:
        raise NotFound("member not found")
    return membership


async def resolve_role(
    session: AsyncSession, role: str | None, custom_role_id: str | None
) -> tuple[str, str | None]:
    """(role column, custom_role_id) from what a request named."""
    if custom_role_id is not None:
        found = await session.scalar(select(CustomRole.id).where(CustomRole.id == custom_role_id))
        if found is None:
            raise NotFound("role not found")
        return CUSTOM, found
    try:
        return BuiltinRole(role or "").value, None
    except ValueError:
        raise InvalidInput(f"unknown role {role!r}") from None


async def _owner_count(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.role == BuiltinRole.OWNER)
    )
    return int(count or 0)


def _require_owner(actor: Principal) -> None:
    if actor.role != BuiltinRole.OWNER:
        raise PermissionDenied("only an owner may change an owner")


async def change_role(
    session: AsyncSession,
    actor: Principal,
    membership_id: str,
    *,
    role: str | None,
    custom_role_id: str | None,
) -> Membership:
    membership = await get_membership(session, membership_id)
    new_role, new_custom = await resolve_role(session, role, custom_role_id)
    if BuiltinRole.OWNER in (membership.role, new_role):
        _require_owner(actor)
    if (
        membership.role == BuiltinRole.OWNER
        and new_role != BuiltinRole.OWNER
        and await _owner_count(session) <= 1
    ):
        raise Conflict("the last owner cannot be demoted")
    membership.role, membership.custom_role_id = new_role, new_custom
    await session.flush()
    return membership


async def remove_member(session: AsyncSession, actor: Principal, membership_id: str) -> None:
    membership = await get_membership(session, membership_id)
    if membership.role == BuiltinRole.OWNER:
        _require_owner(actor)
        if await _owner_count(session) <= 1:
            raise Conflict("the last owner cannot be removed")
    await session.execute(delete(TeamMember).where(TeamMember.user_id == membership.user_id))
    await session.delete(membership)
    await session.flush()
