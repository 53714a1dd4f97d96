"""Agent tables: the editable draft lives on ``agents``; each publish freezes a
copy into ``agent_versions``, which is never updated afterwards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenancy.db.base import ID_LENGTH, Base, TenantOwned, created_column, id_column


class Agent(TenantOwned, Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("org_id", "slug"), UniqueConstraint("org_id", "id"))

    id: Mapped[str] = id_column()
    slug: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    draft: Mapped[dict[str, Any]] = mapped_column(default=dict)
    published_version: Mapped[int | None]
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()


class AgentVersion(TenantOwned, Base):
    __tablename__ = "agent_versions"
    __table_args__ = (
        UniqueConstraint("agent_id", "version"),
        ForeignKeyConstraint(
            ["org_id", "agent_id"], ["agents.org_id", "agents.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[str] = id_column()
    agent_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    version: Mapped[int]
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_column()
