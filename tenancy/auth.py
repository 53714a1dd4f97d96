"""Turns a bearer credential (login session token or API key) into a ``Principal``.

Lookups run in a platform-scoped transaction: the credential is what tells us
the tenant, so it cannot be looked up inside one. Nothing else happens in that
transaction. A suspended organisation stops its keys and its members' access.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy import bearer
from tenancy.db.base import utcnow
from tenancy.db.engine import Database
from tenancy.errors import AuthenticationError, NotFound, OrgSuspended
from tenancy.models import ApiKey, CustomRole, LoginSession, Membership, Organization, User
from tenancy.permissions import (
    ROLE_PERMISSIONS,
    BuiltinRole,
    Permission,
    effective_permissions,
    parse_permissions,
)
from tenancy.principal import Principal

# Writing last_used_at on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)
MAX_CREDENTIAL_CHARS = 256


@dataclass(frozen=True, slots=True)
class Credential:
    """What the request presented, and whether an organisation must be resolved."""

    token: str
    org_ref: str | None = None  # organisation id or slug chosen by a user (header)
    need_org: bool = True


async def authenticate(db: Database, credential: Credential) -> Principal:
    async with db.platform() as session:
        return await authenticate_in(session, credential)


async def authenticate_in(session: AsyncSession, credential: Credential) -> Principal:
    """Within an open platform-scoped transaction (the caller may then rescope it)."""
    token = credential.token
    if not token or len(token) > MAX_CREDENTIAL_CHARS:
        raise AuthenticationError("missing or malformed credential")
    kind = bearer.kind_of(token)
    if kind == "api_key":
        return await _from_api_key(session, token)
    if kind == "session":
        return await _from_login_session(session, token, credential)
    if kind == "publishable":
        raise AuthenticationError("a publishable (pk_) key only opens widget sessions")
    raise AuthenticationError("missing or malformed credential")


async def _from_api_key(session: AsyncSession, token: str) -> Principal:
    now = utcnow()
    row = (
        await session.execute(
            select(ApiKey, Organization)
            .join(Organization, Organization.id == ApiKey.org_id)
            .where(ApiKey.key_hash == bearer.digest(token))
        )
    ).first()
    if row is None:
        raise AuthenticationError("invalid API key")
    key, org = row
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        raise AuthenticationError("API key revoked or expired")
    if org.status != "active":
        raise OrgSuspended("organisation suspended")
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        key.last_used_at = now
    return Principal(
        kind="api_key",
        user_id=None,
        org_id=org.id,
        permissions=parse_permissions(key.scopes),
        api_key_id=key.id,
        valid_until=key.expires_at,
    )


async def _from_login_session(
    session: AsyncSession, token: str, credential: Credential
) -> Principal:
    now = utcnow()
    row = (
        await session.execute(
            select(LoginSession, User)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.token_hash == bearer.digest(token))
        )
    ).first()
    if row is None:
        raise AuthenticationError("invalid session token")
    login, user = row
    if login.revoked_at is not None or login.expires_at <= now:
        raise AuthenticationError("session ended; log in again")
    base = Principal(
        kind="user",
        user_id=user.id,
        org_id=None,
        permissions=frozenset(),
        account_type=user.account_type,
        # An impersonation session never carries platform powers.
        is_platform_admin=user.is_platform_admin and login.impersonator_id is None,
        session_id=login.id,
        impersonator_id=login.impersonator_id,
        valid_until=login.expires_at,
    )
    if not credential.need_org:
        return base
    return await _in_org(session, base, user, credential.org_ref)


async def _in_org(
    session: AsyncSession, base: Principal, user: User, org_ref: str | None
) -> Principal:
    query = (
        select(Membership, Organization)
        .join(Organization, Organization.id == Membership.org_id)
        .where(Membership.user_id == user.id)
    )
    if org_ref:
        query = query.where(or_(Organization.id == org_ref, Organization.slug == org_ref))
    else:
        # No organisation named: the one the person joined first.
        query = query.order_by(Membership.created_at, Membership.id).limit(1)
    row = (await session.execute(query)).first()
    if row is None:
        # Same answer whether the organisation exists or not.
        raise NotFound("organisation not found")
    membership, org = row
    if org.status != "active":
        raise OrgSuspended("organisation suspended")
    permissions = await role_permissions(session, membership)
    return Principal(
        kind="user",
        user_id=user.id,
        org_id=org.id,
        permissions=effective_permissions(permissions, user.account_type),
        account_type=user.account_type,
        role=membership.role,
        is_platform_admin=base.is_platform_admin,
        session_id=base.session_id,
        impersonator_id=base.impersonator_id,
        valid_until=base.valid_until,
    )


async def role_permissions(session: AsyncSession, membership: Membership) -> frozenset[Permission]:
    if membership.custom_role_id is None:
        return ROLE_PERMISSIONS[BuiltinRole(membership.role)]
    role = await session.scalar(
        select(CustomRole).where(
            CustomRole.id == membership.custom_role_id, CustomRole.org_id == membership.org_id
        )
    )
    return parse_permissions(role.permissions) if role else frozenset()
