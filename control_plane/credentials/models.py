"""Provider credentials: the secret is Fernet ciphertext; only a hint is readable."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenancy.db.base import Base, TenantOwned, created_column, id_column


class ProviderCredential(TenantOwned, Base):
    __tablename__ = "provider_credentials"
    __table_args__ = (UniqueConstraint("org_id", "provider", "label"),)

    id: Mapped[str] = id_column()
    provider: Mapped[str] = mapped_column(String(50))
    label: Mapped[str] = mapped_column(String(100), default="default")
    ciphertext: Mapped[str] = mapped_column(Text)
    # The last characters of the secret, so people can tell keys apart.
    hint: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = created_column()
