"""Knowledge base records: what an organisation named and described; the
documents and vectors themselves live in rag/ (catalog and vector store)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenancy.db.base import Base, TenantOwned, created_column, id_column


class KnowledgeBase(TenantOwned, Base):
    __tablename__ = "knowledge_bases"
    __table_args__ = (UniqueConstraint("org_id", "name"), UniqueConstraint("org_id", "id"))

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Categories offered for documents and search filters.
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()
