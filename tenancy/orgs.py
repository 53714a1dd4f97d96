"""Organisations: creation (with the creator as owner), slugs, settings."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.db.base import new_id
from tenancy.errors import Conflict, InvalidInput
from tenancy.models import Membership, Organization
from tenancy.permissions import BuiltinRole

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
_SLUG = re.compile(SLUG_PATTERN)
_SLUG_ATTEMPTS = 5
MAX_SETTINGS_BYTES = 16_384


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50].strip("-")
    return slug or "org"


async def _free_slug(session: AsyncSession, wanted: str | None, name: str) -> str:
    if wanted is not None:
        if not _SLUG.match(wanted):
            raise InvalidInput("slug must be lowercase letters, digits and dashes")
        if await session.scalar(select(Organization.id).where(Organization.slug == wanted)):
            raise Conflict("slug taken")
        return wanted
    base = slugify(name)
    candidate = base
    for _ in range(_SLUG_ATTEMPTS):
        if not await session.scalar(select(Organization.id).where(Organization.slug == candidate)):
            return candidate
        candidate = f"{base}-{secrets.token_hex(2)}"
    raise Conflict("could not find a free slug; give one")


async def create_org_in(
    session: AsyncSession,
    *,
    owner_id: str,
    name: str,
    slug: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Organization:
    """Creates an organisation with ``owner_id`` as its owner. ``session`` must be
    platform-scoped: slugs are one namespace across every tenant."""
    org = Organization(
        id=new_id(), name=name, slug=await _free_slug(session, slug, name), settings=settings or {}
    )
    session.add(org)
    await session.flush()
    session.add(Membership(org_id=org.id, user_id=owner_id, role=BuiltinRole.OWNER.value))
    await session.flush()
    return org


async def update_org(
    session: AsyncSession,
    org_id: str,
    *,
    name: str | None = None,
    slug: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Organization:
    org = await session.get_one(Organization, org_id)
    if name is not None:
        org.name = name
    if slug is not None and slug != org.slug:
        if not _SLUG.match(slug):
            raise InvalidInput("slug must be lowercase letters, digits and dashes")
        org.slug = slug  # uniqueness: the constraint answers (mapped to 409)
    if settings is not None:
        org.settings = settings
    await session.flush()
    return org
