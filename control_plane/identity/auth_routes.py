"""Sign-up, email verification, login, logout, password reset, and "me"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from control_plane.api.context import UserContext, audit_outside, client_ip, public, signed_in
from control_plane.api.schemas import ApiModel, Name, example
from control_plane.services import Services
from tenancy import accounts, invitations
from tenancy.audit import AuditEvent
from tenancy.models import Membership, Organization, User
from tenancy.permissions import AccountType

router = APIRouter(prefix="/v1", tags=["identity"])
Password = Annotated[str, Field(min_length=1, max_length=256)]
Email = Annotated[str, Field(min_length=3, max_length=254)]
Token = Annotated[str, Field(min_length=1, max_length=256)]


class RegisterIn(ApiModel):
    email: Email
    password: Password
    name: Name
    account_type: AccountType = AccountType.BUSINESS
    # Creates an organisation with the new account as owner (skip to join by invitation).
    organization_name: Name | None = None

    model_config = example(
        **{
            "email": "new.person@example.com",
            "password": "correct horse battery",
            "name": "New Person",
            "account_type": "business",
            "organization_name": "New Co",
        }
    )


class RegisterOut(BaseModel):
    user_id: str
    organization_id: str | None
    verification: str = "sent"


class TokenIn(ApiModel):
    token: Token

    model_config = example(**{"token": "capm_unknown"})


class LoginIn(ApiModel):
    email: Email
    password: Password

    model_config = example(**{"email": "nobody@example.com", "password": "x" * 12})


class LoginOut(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_in: int
    user_id: str


class ResetRequestIn(ApiModel):
    email: Email

    model_config = example(**{"email": "nobody@example.com"})


class ResetConfirmIn(ApiModel):
    token: Token
    new_password: Password

    model_config = example(**{"token": "capm_unknown", "new_password": "y" * 12})


class OrgMembershipOut(BaseModel):
    org_id: str
    slug: str
    name: str
    role: str
    status: str


class MeOut(BaseModel):
    id: str
    email: str
    name: str
    account_type: str
    email_verified: bool
    is_platform_admin: bool
    impersonated_by: str | None
    organizations: list[OrgMembershipOut]


class Accepted(BaseModel):
    accepted: bool = True


@router.post("/auth/register", status_code=201, name="auth.register")
async def register(
    body: RegisterIn, request: Request, services: Annotated[Services, public()]
) -> RegisterOut:
    done = await accounts.register(
        services.db,
        services.passwords,
        services.accounts,
        email=body.email,
        password=body.password,
        name=body.name,
        account_type=body.account_type,
        org_name=body.organization_name,
    )
    await audit_outside(
        services,
        None,
        AuditEvent("auth.register", f"user_id={done.user_id}", 201),
        org_id=done.org_id,
        ip=client_ip(request),
    )
    return RegisterOut(user_id=done.user_id, organization_id=done.org_id)


@router.post("/auth/verify-email", name="auth.verify_email")
async def verify_email(body: TokenIn, services: Annotated[Services, public()]) -> Accepted:
    await accounts.verify_email(services.db, body.token)
    return Accepted()


@router.post("/auth/login", name="auth.login")
async def login(body: LoginIn, services: Annotated[Services, public()]) -> LoginOut:
    done = await accounts.login(
        services.db, services.passwords, services.accounts, email=body.email, password=body.password
    )
    return LoginOut(token=done.token, expires_in=done.expires_in, user_id=done.user_id)


@router.post("/auth/logout", name="auth.logout")
async def logout(ctx: Annotated[UserContext, signed_in()]) -> Accepted:
    assert ctx.principal.session_id is not None
    await accounts.logout(ctx.services.db, ctx.principal.session_id)
    return Accepted()


@router.post("/auth/password-reset", status_code=202, name="auth.password_reset_request")
async def password_reset_request(
    body: ResetRequestIn, services: Annotated[Services, public()]
) -> Accepted:
    await accounts.request_password_reset(services.db, services.accounts, body.email)
    return Accepted()


@router.post("/auth/password-reset/confirm", name="auth.password_reset_confirm")
async def password_reset_confirm(
    body: ResetConfirmIn, request: Request, services: Annotated[Services, public()]
) -> Accepted:
    await accounts.reset_password(services.db, services.passwords, body.token, body.new_password)
    await audit_outside(
        services, None, AuditEvent("auth.password_reset"), org_id=None, ip=client_ip(request)
    )
    return Accepted()


@router.get("/auth/me", name="auth.me")
async def me(ctx: Annotated[UserContext, signed_in()]) -> MeOut:
    async with ctx.services.db.platform() as session:
        user = await session.get_one(User, ctx.principal.user_id)
        rows = await session.execute(
            select(Membership, Organization)
            .join(Organization, Organization.id == Membership.org_id)
            .where(Membership.user_id == user.id)
            .order_by(Membership.created_at)
        )
        orgs = [
            OrgMembershipOut(
                org_id=org.id, slug=org.slug, name=org.name, role=m.role, status=org.status
            )
            for m, org in rows
        ]
    return MeOut(
        id=user.id,
        email=user.email,
        name=user.name,
        account_type=user.account_type,
        email_verified=user.email_verified_at is not None,
        is_platform_admin=ctx.principal.is_platform_admin,
        impersonated_by=ctx.principal.impersonator_id,
        organizations=orgs,
    )


@router.post("/invitations/accept", name="invitations.accept")
async def accept_invitation(body: TokenIn, ctx: Annotated[UserContext, signed_in()]) -> Accepted:
    assert ctx.principal.user_id is not None
    membership = await invitations.accept(ctx.services.db, ctx.principal.user_id, body.token)
    await audit_outside(
        ctx.services,
        ctx.principal,
        AuditEvent("invitations.accept", f"membership_id={membership.id}"),
        org_id=membership.org_id,
        ip=ctx.ip,
    )
    return Accepted()
