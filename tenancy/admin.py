"""Platform administration: organisations across tenants, suspension, feature flags.

All functions take a platform-scoped session: they are cross-tenant on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.db.base import utcnow
from tenancy.errors import NotFound
from tenancy.models import FeatureFlag, Membership, Organization

MAX_ORG_PAGE = 500


async def list_orgs(
    session: AsyncSession, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> Sequence[tuple[Organization, int]]:
    members = (
        select(Membership.org_id, func.count().label("n")).group_by(Membership.org_id).subquery()
    )
    query = (
        select(Organization, func.coalesce(members.c.n, 0))
        .outerjoin(members, members.c.org_id == Organization.id)
        .order_by(Organization.created_at, Organization.id)
    )
    if status is not None:
        query = query.where(Organization.status == status)
    rows = await session.execute(query.limit(min(limit, MAX_ORG_PAGE)).offset(offset))
    return [(org, int(n)) for org, n in rows]


async def get_org(session: AsyncSession, org_id: str) -> Organization:
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("organisation not found")
    return org


async def set_status(session: AsyncSession, org_id: str, status: str) -> Organization:
    org = await get_org(session, org_id)
    org.status = status
    org.suspended_at = utcnow() if status == "suspended" else None
    await session.flush()
    return org


async def flags(session: AsyncSession, org_id: str) -> dict[str, bool]:
    rows = await session.scalars(select(FeatureFlag).where(FeatureFlag.org_id == org_id))
    return {flag.name: flag.enabled for flag in rows}


async def set_flag(session: AsyncSession, org_id: str, name: str, enabled: bool) -> FeatureFlag:
    await get_org(session, org_id)
    flag = await session.scalar(
        select(FeatureFlag).where(FeatureFlag.org_id == org_id, FeatureFlag.name == name)
    )
    if flag is None:
        flag = FeatureFlag(org_id=org_id, name=name, enabled=enabled)
        session.add(flag)
    else:
        flag.enabled = enabled
        flag.updated_at = utcnow()
    await session.flush()
    return flag
