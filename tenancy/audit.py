"""Writing and reading the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.models import AuditEntry
from tenancy.principal import Principal

MAX_AUDIT_PAGE = 500


@dataclass(frozen=True, slots=True)
class AuditEvent:
    action: str
    target: str = ""
    status: int = 200
    details: dict[str, Any] = field(default_factory=dict)


def record(
    session: AsyncSession,
    event: AuditEvent,
    *,
    org_id: str | None,
    principal: Principal | None,
    ip: str | None,
) -> AuditEntry:
    entry = AuditEntry(
        org_id=org_id,
        actor_user_id=principal.user_id if principal else None,
        actor_api_key_id=principal.api_key_id if principal else None,
        impersonator_id=principal.impersonator_id if principal else None,
        action=event.action,
        target=event.target[:500],
        ip=(ip or "")[:64] or None,
        status=event.status,
        details=event.details,
    )
    session.add(entry)
    return entry


async def list_entries(
    session: AsyncSession,
    *,
    limit: int = 100,
    before: str | None = None,
    org_id: str | None = None,
) -> Sequence[AuditEntry]:
    """Newest first. Scoped by the session's tenant; ``org_id`` narrows a platform view."""
    query = select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    if org_id is not None:
        query = query.where(AuditEntry.org_id == org_id)
    if before is not None:
        pivot = await session.get(AuditEntry, before)
        if pivot is not None:
            query = query.where(AuditEntry.created_at < pivot.created_at)
    return (await session.scalars(query.limit(min(limit, MAX_AUDIT_PAGE)))).all()
