"""Invitations by email: a one-time token with an expiry, accepted by the
person holding that email address once logged in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy import bearer, outbox
from tenancy.accounts import normalize_email
from tenancy.db.base import utcnow
from tenancy.db.engine import Database
from tenancy.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tenancy.members import resolve_role
from tenancy.models import Invitation, Membership, Organization, TeamMember, User
from tenancy.permissions import BuiltinRole
from tenancy.principal import Principal
from tenancy.teams import get_team

DEFAULT_INVITATION_TTL = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Issued:
    invitation: Invitation
    token: str


async def invite(
    session: AsyncSession,
    actor: Principal,
    *,
    email: str,
    role: str | None,
    custom_role_id: str | None,
    team_id: str | None,
    ttl: timedelta = DEFAULT_INVITATION_TTL,
    public_url: str = "",
) -> Issued:
    email = normalize_email(email)
    role_name, custom = await resolve_role(session, role, custom_role_id)
    if role_name == BuiltinRole.OWNER and actor.role != BuiltinRole.OWNER:
        raise PermissionDenied("only an owner may invite an owner")
    if team_id is not None:
        await get_team(session, team_id)
    member = await session.scalar(
        select(Membership.id).join(User, User.id == Membership.user_id).where(User.email == email)
    )
    if member is not None:
        raise Conflict("already a member")
    secret = bearer.issue("mail")
    invitation = Invitation(
        email=email,
        role=role_name,
        custom_role_id=custom,
        team_id=team_id,
        token_hash=secret.digest,
        invited_by=actor.user_id,
        expires_at=utcnow() + ttl,
    )
    session.add(invitation)
    await session.flush()
    org = await session.get_one(Organization, invitation.org_id)
    outbox.enqueue(
        session,
        to=email,
        subject=f"You are invited to {org.name} on CAP",
        body=(
            f"Join {org.name}: {public_url}/accept-invitation?token={secret.value}\n"
            f"The invitation expires in {int(ttl.total_seconds() // 3600)} hours.\n"
        ),
    )
    return Issued(invitation=invitation, token=secret.value)


async def list_invitations(session: AsyncSession) -> Sequence[Invitation]:
    return (await session.scalars(select(Invitation).order_by(Invitation.created_at.desc()))).all()


async def revoke_invitation(session: AsyncSession, invitation_id: str) -> Invitation:
    invitation = await session.scalar(select(Invitation).where(Invitation.id == invitation_id))
    if invitation is None:
        raise NotFound("invitation not found")
    invitation.revoked_at = invitation.revoked_at or utcnow()
    await session.flush()
    return invitation


async def accept(db: Database, user_id: str, token: str) -> Membership:
    """Joins the inviting organisation. Cross-tenant by nature (the token names
    the tenant), hence the platform scope."""
    async with db.platform() as session:
        invitation = await session.scalar(
            select(Invitation).where(Invitation.token_hash == bearer.digest(token))
        )
        now = utcnow()
        if (
            invitation is None
            or invitation.revoked_at is not None
            or invitation.accepted_at is not None
            or invitation.expires_at <= now
        ):
            raise InvalidInput("invitation invalid, used or expired")
        user = await session.get_one(User, user_id)
        if user.email != invitation.email:
            raise PermissionDenied("this invitation is for another email address")
        org = await session.get_one(Organization, invitation.org_id)
        if org.status != "active":
            raise PermissionDenied("organisation suspended")
        exists = await session.scalar(
            select(Membership.id).where(Membership.org_id == org.id, Membership.user_id == user.id)
        )
        if exists is not None:
            raise Conflict("already a member")
        invitation.accepted_at = now
        membership = Membership(
            org_id=org.id,
            user_id=user.id,
            role=invitation.role,
            custom_role_id=invitation.custom_role_id,
        )
        session.add(membership)
        if invitation.team_id is not None:
            session.add(TeamMember(org_id=org.id, team_id=invitation.team_id, user_id=user.id))
        # Accepting the mailed token proves the address.
        user.email_verified_at = user.email_verified_at or now
        await session.flush()
        return membership
