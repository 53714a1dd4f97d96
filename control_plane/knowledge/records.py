"""Knowledge base records: storage rules within the session's organisation."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.knowledge.models import KnowledgeBase
from tenancy.db.base import utcnow
from tenancy.errors import Conflict, NotFound


async def get_kb(session: AsyncSession, ref: str) -> KnowledgeBase:
    """By id or name, within the session's organisation (another one's is not found)."""
    kb = await session.scalar(
        select(KnowledgeBase).where(or_(KnowledgeBase.id == ref, KnowledgeBase.name == ref))
    )
    if kb is None:
        raise NotFound("knowledge base not found")
    return kb


async def list_kbs(session: AsyncSession) -> Sequence[KnowledgeBase]:
    query = select(KnowledgeBase).order_by(KnowledgeBase.created_at, KnowledgeBase.id)
    return (await session.scalars(query)).all()


async def _name_taken(session: AsyncSession, name: str) -> bool:
    return (
        await session.scalar(select(KnowledgeBase.id).where(KnowledgeBase.name == name)) is not None
    )


async def create_kb(
    session: AsyncSession, *, name: str, description: str, tags: list[str]
) -> KnowledgeBase:
    if await _name_taken(session, name):
        raise Conflict("a knowledge base with this name exists")
    kb = KnowledgeBase(name=name, description=description, tags=tags)
    session.add(kb)
    await session.flush()
    return kb


async def update_kb(
    session: AsyncSession,
    ref: str,
    *,
    name: str | None,
    description: str | None,
    tags: list[str] | None,
) -> KnowledgeBase:
    kb = await get_kb(session, ref)
    if name is not None and name != kb.name:
        if await _name_taken(session, name):
            raise Conflict("a knowledge base with this name exists")
        kb.name = name
    if description is not None:
        kb.description = description
    if tags is not None:
        kb.tags = tags
    kb.updated_at = utcnow()
    await session.flush()
    return kb


async def delete_kb(session: AsyncSession, ref: str) -> KnowledgeBase:
    kb = await get_kb(session, ref)
    await session.delete(kb)
    await session.flush()
    return kb


async def existing_ids(session: AsyncSession, ids: Sequence[str]) -> list[str]:
    """The subset of ``ids`` that are this organisation's knowledge bases."""
    if not ids:
        return []
    found = await session.scalars(select(KnowledgeBase.id).where(KnowledgeBase.id.in_(ids)))
    return sorted(set(found))
