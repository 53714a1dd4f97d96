"""Platform administration endpoints (platform administrators only)."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from control_plane.api.context import AdminContext, platform_admin
from control_plane.api.schemas import ApiModel, Id, Limit, ShortText, example
from control_plane.identity.org_routes import AuditOut, OrgOut
from tenancy import admin, audit
from tenancy.accounts import add_login_session
from tenancy.errors import InvalidInput, NotFound
from tenancy.models import User

router = APIRouter(prefix="/v1/admin", tags=["platform admin"])
FlagName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")]
MAX_IMPERSONATION = timedelta(hours=4)


class AdminOrgOut(OrgOut):
    members: int
    suspended_at: datetime | None


class SuspendIn(ApiModel):
    reason: ShortText = ""

    model_config = example(reason="unpaid invoices")


class FlagIn(ApiModel):
    enabled: bool

    model_config = example(enabled=True)


class ImpersonateIn(ApiModel):
    user_id: Id
    reason: ShortText = Field(min_length=1)
    minutes: int = Field(default=30, ge=1, le=int(MAX_IMPERSONATION.total_seconds() // 60))

    model_config = example(user_id="00000000-0000-0000-0000-000000000000", reason="support ticket")


class ImpersonationOut(BaseModel):
    token: str
    user_id: str
    expires_in: int


def _org_out(org: object, members: int) -> AdminOrgOut:
    base = OrgOut.model_validate(org).model_dump()
    return AdminOrgOut(**base, members=members, suspended_at=getattr(org, "suspended_at", None))


@router.get("/orgs", name="admin.orgs.list")
async def list_orgs(
    ctx: Annotated[AdminContext, platform_admin()],
    status: Annotated[Literal["active", "suspended"] | None, Query()] = None,
    limit: Annotated[Limit, Query()] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AdminOrgOut]:
    rows = await admin.list_orgs(ctx.session, status=status, limit=limit, offset=offset)
    return [_org_out(org, n) for org, n in rows]


@router.get("/orgs/{org_id}", name="admin.orgs.get")
async def get_org(org_id: Id, ctx: Annotated[AdminContext, platform_admin()]) -> AdminOrgOut:
    org = await admin.get_org(ctx.session, org_id)
    return _org_out(org, -1)


@router.post("/orgs/{org_id}/suspend", name="admin.orgs.suspend")
async def suspend_org(
    org_id: Id, body: SuspendIn, ctx: Annotated[AdminContext, platform_admin()]
) -> AdminOrgOut:
    org = await admin.set_status(ctx.session, org_id, "suspended")
    ctx.audit_details = {"reason": body.reason}
    # Sessions end once the suspension is stored, not before (and not if it fails).
    ctx.after_commit.extend(
        functools.partial(listener, org_id) for listener in ctx.services.suspension_listeners
    )
    return _org_out(org, -1)


@router.post("/orgs/{org_id}/reactivate", name="admin.orgs.reactivate")
async def reactivate_org(org_id: Id, ctx: Annotated[AdminContext, platform_admin()]) -> AdminOrgOut:
    return _org_out(await admin.set_status(ctx.session, org_id, "active"), -1)


@router.get("/orgs/{org_id}/flags", name="admin.flags.list")
async def list_flags(org_id: Id, ctx: Annotated[AdminContext, platform_admin()]) -> dict[str, bool]:
    await admin.get_org(ctx.session, org_id)
    return await admin.flags(ctx.session, org_id)


@router.put("/orgs/{org_id}/flags/{flag}", name="admin.flags.set")
async def set_flag(
    org_id: Id, flag: FlagName, body: FlagIn, ctx: Annotated[AdminContext, platform_admin()]
) -> dict[str, bool]:
    await admin.set_flag(ctx.session, org_id, flag, body.enabled)
    ctx.audit_details = {"flag": flag, "enabled": body.enabled}
    return await admin.flags(ctx.session, org_id)


@router.get("/audit", name="admin.audit.list")
async def list_audit(
    ctx: Annotated[AdminContext, platform_admin()],
    org_id: Annotated[Id | None, Query()] = None,
    limit: Annotated[Limit, Query()] = 100,
) -> list[AuditOut]:
    rows = await audit.list_entries(ctx.session, limit=limit, org_id=org_id)
    return [AuditOut.model_validate(r) for r in rows]


@router.post("/impersonate", status_code=201, name="admin.impersonate")
async def impersonate(
    body: ImpersonateIn, ctx: Annotated[AdminContext, platform_admin()]
) -> ImpersonationOut:
    """A session acting as another person, short-lived and audited (every request
    made with it is audited with the administrator's id as impersonator)."""
    user = await ctx.session.scalar(select(User).where(User.id == body.user_id))
    if user is None:
        raise NotFound("user not found")
    if user.is_platform_admin:
        raise InvalidInput("platform administrators cannot be impersonated")
    assert ctx.principal.user_id is not None
    ttl = timedelta(minutes=body.minutes)
    done = add_login_session(ctx.session, user.id, ttl, impersonator_id=ctx.principal.user_id)
    ctx.audit_details = {"user_id": user.id, "reason": body.reason, "minutes": body.minutes}
    return ImpersonationOut(token=done.token, user_id=user.id, expires_in=done.expires_in)
