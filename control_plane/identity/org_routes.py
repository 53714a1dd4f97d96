"""The caller's organisation: details and settings, members, invitations, audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from control_plane.api.context import RequestContext, UserContext, audit_outside, require, signed_in
from control_plane.api.schemas import ApiModel, Deleted, Id, Limit, Name, Slug, example
from tenancy import admin as platform
from tenancy import audit, invitations, members
from tenancy.audit import AuditEvent
from tenancy.models import Organization
from tenancy.orgs import create_org_in, update_org
from tenancy.permissions import Permission as P

router = APIRouter(prefix="/v1", tags=["organisation"])


class OrgOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    slug: str
    status: str
    settings: dict[str, Any]
    created_at: datetime


class OrgDetailOut(OrgOut):
    feature_flags: dict[str, bool] = Field(default_factory=dict)


class OrgCreateIn(ApiModel):
    name: Name
    slug: Slug | None = None
    settings: dict[str, Any] = Field(default_factory=dict)

    model_config = example(**{"name": "Second Co"})


class OrgPatchIn(ApiModel):
    name: Name | None = None
    slug: Slug | None = None
    settings: dict[str, Any] | None = None

    model_config = example(**{"settings": {"timezone": "UTC"}})


class MemberOut(BaseModel):
    id: str
    user_id: str
    email: str
    name: str
    role: str
    custom_role_id: str | None
    created_at: datetime


class MemberPatchIn(ApiModel):
    role: str | None = Field(default=None, max_length=20)
    custom_role_id: Id | None = None

    model_config = example(**{"role": "viewer"})


class InvitationIn(ApiModel):
    email: str = Field(min_length=3, max_length=254)
    role: str | None = Field(default="member", max_length=20)
    custom_role_id: Id | None = None
    team_id: Id | None = None
    ttl_hours: float = Field(default=168.0, gt=0, le=24 * 30)

    model_config = example(**{"email": "invitee@example.com", "role": "member"})


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    email: str
    role: str
    custom_role_id: str | None
    team_id: str | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class InvitationCreatedOut(InvitationOut):
    # Also mailed; returned so an admin can pass it on another way.
    token: str


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    org_id: str | None
    actor_user_id: str | None
    actor_api_key_id: str | None
    impersonator_id: str | None
    action: str
    target: str
    ip: str | None
    details: dict[str, Any]
    created_at: datetime


@router.post("/orgs", status_code=201, name="orgs.create")
async def create_org(body: OrgCreateIn, ctx: Annotated[UserContext, signed_in()]) -> OrgOut:
    assert ctx.principal.user_id is not None
    # Slugs are one namespace across tenants, so creation is platform-scoped.
    async with ctx.services.db.platform() as session:
        org = await create_org_in(
            session,
            owner_id=ctx.principal.user_id,
            name=body.name,
            slug=body.slug,
            settings=body.settings,
        )
        out = OrgOut.model_validate(org)
    await audit_outside(
        ctx.services,
        ctx.principal,
        AuditEvent("orgs.create", f"org_id={org.id}", 201),
        org_id=org.id,
        ip=ctx.ip,
    )
    return out


@router.get("/org", name="org.get")
async def get_org(ctx: Annotated[RequestContext, require(P.ORG_READ)]) -> OrgDetailOut:
    org = await ctx.session.get_one(Organization, ctx.org_id)
    flags = await platform.flags(ctx.session, ctx.org_id)
    return OrgDetailOut.model_validate(
        {**OrgOut.model_validate(org).model_dump(), "feature_flags": flags}
    )


@router.patch("/org", name="org.update")
async def patch_org(
    body: OrgPatchIn, ctx: Annotated[RequestContext, require(P.ORG_MANAGE)]
) -> OrgOut:
    org = await update_org(
        ctx.session, ctx.org_id, name=body.name, slug=body.slug, settings=body.settings
    )
    return OrgOut.model_validate(org)


@router.get("/audit", name="audit.list")
async def list_audit(
    ctx: Annotated[RequestContext, require(P.AUDIT_READ)],
    limit: Annotated[Limit, Query()] = 100,
    before: Annotated[Id | None, Query()] = None,
) -> list[AuditOut]:
    rows = await audit.list_entries(ctx.session, limit=limit, before=before)
    return [AuditOut.model_validate(r) for r in rows]


@router.get("/members", name="members.list")
async def list_members(ctx: Annotated[RequestContext, require(P.MEMBERS_READ)]) -> list[MemberOut]:
    return [
        MemberOut(
            id=m.id,
            user_id=u.id,
            email=u.email,
            name=u.name,
            role=m.role,
            custom_role_id=m.custom_role_id,
            created_at=m.created_at,
        )
        for m, u in await members.list_members(ctx.session)
    ]


@router.patch("/members/{membership_id}", name="members.update")
async def patch_member(
    membership_id: Id,
    body: MemberPatchIn,
    ctx: Annotated[RequestContext, require(P.MEMBERS_MANAGE)],
) -> dict[str, str | None]:
    m = await members.change_role(
        ctx.session,
        ctx.principal,
        membership_id,
        role=body.role,
        custom_role_id=body.custom_role_id,
    )
    ctx.audit_details = {"role": m.role, "custom_role_id": m.custom_role_id}
    return {"id": m.id, "role": m.role, "custom_role_id": m.custom_role_id}


@router.delete("/members/{membership_id}", name="members.remove")
async def remove_member(
    membership_id: Id, ctx: Annotated[RequestContext, require(P.MEMBERS_MANAGE)]
) -> Deleted:
    await members.remove_member(ctx.session, ctx.principal, membership_id)
    return Deleted(id=membership_id)


@router.get("/invitations", name="invitations.list")
async def list_invitations(
    ctx: Annotated[RequestContext, require(P.INVITATIONS_READ)],
) -> list[InvitationOut]:
    return [
        InvitationOut.model_validate(i) for i in await invitations.list_invitations(ctx.session)
    ]


@router.post("/invitations", status_code=201, name="invitations.create")
async def create_invitation(
    body: InvitationIn, ctx: Annotated[RequestContext, require(P.INVITATIONS_MANAGE)]
) -> InvitationCreatedOut:
    from datetime import timedelta

    issued = await invitations.invite(
        ctx.session,
        ctx.principal,
        email=body.email,
        role=body.role,
        custom_role_id=body.custom_role_id,
        team_id=body.team_id,
        ttl=timedelta(hours=body.ttl_hours),
        public_url=ctx.services.accounts.public_url,
    )
    ctx.audit_details = {"email": issued.invitation.email, "role": issued.invitation.role}
    return InvitationCreatedOut.model_validate(
        {**InvitationOut.model_validate(issued.invitation).model_dump(), "token": issued.token}
    )


@router.delete("/invitations/{invitation_id}", name="invitations.revoke")
async def revoke_invitation(
    invitation_id: Id, ctx: Annotated[RequestContext, require(P.INVITATIONS_MANAGE)]
) -> InvitationOut:
    return InvitationOut.model_validate(
        await invitations.revoke_invitation(ctx.session, invitation_id)
    )
