"""Organisations and what lives inside them: memberships, roles, teams,
invitations, feature flags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenancy.db.base import ID_LENGTH, Base, TenantOwned, created_column, id_column
from tenancy.models.identity import EMAIL_LENGTH, HASH_LENGTH


class Organization(Base):
    """The tenant root. Row-level security lets a tenant see only its own row."""

    __tablename__ = "organizations"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = created_column()
    suspended_at: Mapped[datetime | None]


class CustomRole(TenantOwned, Base):
    __tablename__ = "custom_roles"
    __table_args__ = (
        UniqueConstraint("org_id", "name"),
        UniqueConstraint("org_id", "id"),
    )

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(100))
    permissions: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = created_column()


class Membership(TenantOwned, Base):
    """A person in an organisation with one role: built-in by name, or custom."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("org_id", "user_id"),
        # The custom role must belong to the same organisation.
        ForeignKeyConstraint(
            ["org_id", "custom_role_id"],
            ["custom_roles.org_id", "custom_roles.id"],
        ),
    )

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    custom_role_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = created_column()


class Team(TenantOwned, Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("org_id", "name"), UniqueConstraint("org_id", "id"))

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = created_column()


class TeamMember(TenantOwned, Base):
    __tablename__ = "team_members"
    __table_args__ = (
        UniqueConstraint("team_id", "user_id"),
        ForeignKeyConstraint(
            ["org_id", "team_id"], ["teams.org_id", "teams.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[str] = id_column()
    team_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = created_column()


class Invitation(TenantOwned, Base):
    __tablename__ = "invitations"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "custom_role_id"],
            ["custom_roles.org_id", "custom_roles.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["org_id", "team_id"], ["teams.org_id", "teams.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[str] = id_column()
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    role: Mapped[str] = mapped_column(String(20))
    custom_role_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    team_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    invited_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class FeatureFlag(TenantOwned, Base):
    __tablename__ = "feature_flags"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = created_column()
