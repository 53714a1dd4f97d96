"""Custom roles: named sets of permissions an organisation defines itself."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tenancy.models import CustomRole, Invitation, Membership
from tenancy.permissions import BuiltinRole, parse_permissions
from tenancy.principal import Principal


def _checked(actor: Principal, names: Iterable[str]) -> list[str]:
    try:
        permissions = parse_permissions(names)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    # Nobody builds a role more powerful than themselves.
    if not permissions <= actor.permissions:
        raise PermissionDenied("a role cannot grant permissions you do not hold")
    return sorted(p.value for p in permissions)


async def list_roles(session: AsyncSession) -> Sequence[CustomRole]:
    return (await session.scalars(select(CustomRole).order_by(CustomRole.name))).all()


async def get_role(session: AsyncSession, role_id: str) -> CustomRole:
    role = await session.scalar(select(CustomRole).where(CustomRole.id == role_id))
    if role is None:
        raise NotFound("role not found")
    return role


async def create_role(
    session: AsyncSession, actor: Principal, *, name: str, permissions: Iterable[str]
) -> CustomRole:
    if name in set(BuiltinRole) or await session.scalar(
        select(CustomRole.id).where(CustomRole.name == name)
    ):
        raise Conflict("a role with this name exists")
    role = CustomRole(name=name, permissions=_checked(actor, permissions))
    session.add(role)
    await session.flush()
    return role


async def update_role(
    session: AsyncSession,
    actor: Principal,
    role_id: str,
    *,
    name: str | None,
    permissions: Iterable[str] | None,
) -> CustomRole:
    role = await get_role(session, role_id)
    if name is not None and name != role.name:
        if name in set(BuiltinRole) or await session.scalar(
            select(CustomRole.id).where(CustomRole.name == name)
        ):
            raise Conflict("a role with this name exists")
        role.name = name
    if permissions is not None:
        role.permissions = _checked(actor, permissions)
    await session.flush()
    return role


async def delete_role(session: AsyncSession, role_id: str) -> None:
    role = await get_role(session, role_id)
    in_use = await session.scalar(
        select(Membership.id).where(Membership.custom_role_id == role.id).limit(1)
    )
    if in_use is not None:
        raise Conflict("role is assigned to members; reassign them first")
    await session.execute(delete(Invitation).where(Invitation.custom_role_id == role.id))
    await session.delete(role)
    await session.flush()
