"""Global identity tables: people, their login sessions, one-time tokens, outgoing mail.

None of these belong to an organisation: a person may be a member of several.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenancy.db.base import ID_LENGTH, Base, created_column, id_column

EMAIL_LENGTH = 254
HASH_LENGTH = 64  # sha256 hex


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = id_column()
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    account_type: Mapped[str] = mapped_column(String(20))
    email_verified_at: Mapped[datetime | None]
    is_platform_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_column()


class LoginSession(Base):
    """An opaque bearer token, stored as its sha256; revoked on logout."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = id_column()
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Set when a platform admin acts as this user; every audit entry carries it.
    impersonator_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class UserToken(Base):
    """One-time tokens mailed to a person: email verification, password reset."""

    __tablename__ = "user_tokens"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class EmailOutbox(Base):
    """Mail waits here until a deliverer sends it (or logs it, in development)."""

    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_pending", "sent_at", "created_at"),)

    id: Mapped[str] = id_column()
    to_addr: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
