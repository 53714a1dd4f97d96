"""API keys: scoped to one organisation and a set of permissions, shown once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy import bearer
from tenancy.db.base import utcnow
from tenancy.errors import InvalidInput, NotFound, PermissionDenied
from tenancy.models import ApiKey
from tenancy.permissions import parse_permissions
from tenancy.principal import Principal


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown to the creator once, never stored


async def create_key(
    session: AsyncSession,
    actor: Principal,
    *,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
) -> CreatedKey:
    try:
        permissions = parse_permissions(scopes)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if not permissions:
        raise InvalidInput("a key needs at least one scope")
    # A key never holds more than whoever made it.
    if not permissions <= actor.permissions:
        raise PermissionDenied("a key cannot hold scopes you do not have")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("expiry is in the past")
    secret = bearer.issue("api_key")
    key = ApiKey(
        name=name,
        prefix=secret.prefix,
        key_hash=secret.digest,
        scopes=sorted(p.value for p in permissions),
        created_by=actor.user_id,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    return CreatedKey(key=key, secret=secret.value)


async def list_keys(session: AsyncSession) -> Sequence[ApiKey]:
    return (await session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc()))).all()


async def get_key(session: AsyncSession, key_id: str) -> ApiKey:
    key = await session.scalar(select(ApiKey).where(ApiKey.id == key_id))
    if key is None:
        raise NotFound("API key not found")
    return key


async def revoke_key(session: AsyncSession, key_id: str) -> ApiKey:
    key = await get_key(session, key_id)
    key.revoked_at = key.revoked_at or utcnow()
    await session.flush()
    return key
