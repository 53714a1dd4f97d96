"""The audit log: one row per mutation, written in the mutation's own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from tenancy.db.base import ID_LENGTH, Base, TenantOwned, created_column, id_column


class AuditEntry(TenantOwned, Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_created", "org_id", "created_at"),)

    @declared_attr
    def org_id(cls) -> Mapped[str | None]:  # type: ignore[override]
        # Nullable: platform-level actions (e.g. a sign-up) belong to no organisation.
        return mapped_column(
            String(ID_LENGTH), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True
        )

    id: Mapped[str] = id_column()
    actor_user_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    actor_api_key_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    impersonator_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(500), default="")
    ip: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(default=200)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_column()
