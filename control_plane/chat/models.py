"""Conversations and their messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenancy.db.base import ID_LENGTH, Base, TenantOwned, created_column, id_column


class Conversation(TenantOwned, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("org_id", "id"),
        ForeignKeyConstraint(
            ["org_id", "agent_id"], ["agents.org_id", "agents.id"], ondelete="CASCADE"
        ),
        Index("ix_conversations_org_created", "org_id", "created_at"),
    )

    id: Mapped[str] = id_column()
    agent_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    # None: the conversation runs on the agent's draft (testing before publishing).
    agent_version: Mapped[int | None]
    channel: Mapped[str] = mapped_column(String(20))
    created_by_user_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_by_api_key_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()


class Message(TenantOwned, Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        ForeignKeyConstraint(
            ["org_id", "conversation_id"],
            ["conversations.org_id", "conversations.id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[str] = id_column()
    conversation_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    seq: Mapped[int]
    role: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(String(100))
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = created_column()
