"""API keys: a secret shown once, stored as its sha256 beside a visible prefix."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tenancy.db.base import Base, TenantOwned, created_column, id_column
from tenancy.models.identity import HASH_LENGTH

PREFIX_LENGTH = 16


class ApiKey(TenantOwned, Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(PREFIX_LENGTH), unique=True)
    key_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
