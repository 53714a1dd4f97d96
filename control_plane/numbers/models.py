"""Phone numbers an organisation owns, and the log of its calls.

A number is globally unique: Twilio routes it to one webhook, so two
organisations can never both claim it. Calls are kept for usage and billing;
their ``agent_id`` is history (no foreign key: deleting an agent keeps its calls).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenancy.db.base import ID_LENGTH, Base, JSONType, TenantOwned, created_column, id_column

NUMBER_LENGTH = 16  # "+" and at most 15 digits (E.164)
PARTY_LENGTH = 128  # Twilio's From/To may be a SIP URI or a client name


class PhoneNumber(TenantOwned, Base):
    __tablename__ = "phone_numbers"
    __table_args__ = (
        UniqueConstraint("number"),
        UniqueConstraint("org_id", "id"),
        # The agent must be the same organisation's; deleting it is refused while
        # a number points at it.
        ForeignKeyConstraint(["org_id", "agent_id"], ["agents.org_id", "agents.id"]),
    )

    id: Mapped[str] = id_column()
    number: Mapped[str] = mapped_column(String(NUMBER_LENGTH))
    label: Mapped[str] = mapped_column(String(200), default="")
    agent_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    # Business hours: a time zone and {"mon": ["09:00-17:00"], ...}; None = always open.
    timezone: Mapped[str | None] = mapped_column(String(64))
    hours: Mapped[dict[str, list[str]] | None] = mapped_column(JSONType)
    # Outside the hours: "message" (say it and hang up) or "forward" (dial forward_to).
    after_hours_action: Mapped[str] = mapped_column(String(10), default="message")
    after_hours_message: Mapped[str] = mapped_column(Text)
    after_hours_forward: Mapped[str | None] = mapped_column(String(NUMBER_LENGTH))
    # Where "a human" is (keypad transfers), and the keypad rules: digit -> rule.
    transfer_to: Mapped[str | None] = mapped_column(String(NUMBER_LENGTH))
    dtmf: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    dtmf_to_agent: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()


class PhoneCall(TenantOwned, Base):
    __tablename__ = "phone_calls"
    __table_args__ = (
        UniqueConstraint("call_sid"),
        Index("ix_phone_calls_org_id_started_at", "org_id", "started_at"),
    )

    id: Mapped[str] = id_column()
    call_sid: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str | None] = mapped_column(String(10))
    from_number: Mapped[str | None] = mapped_column(String(PARTY_LENGTH))
    to_number: Mapped[str | None] = mapped_column(String(PARTY_LENGTH))
    agent_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    started_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # Twilio's CallDuration from the final status callback: the billed seconds.
    duration_secs: Mapped[int | None]
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()
