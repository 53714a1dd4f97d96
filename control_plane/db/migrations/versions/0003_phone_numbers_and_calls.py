"""Phone numbers and the call log: tenant tables under row-level security.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RLS_TABLES = ("phone_numbers", "phone_calls")
# Same policy as 0001: rows of the transaction's organisation, or platform-wide.
_POLICY = (
    "org_id = current_setting('cap.org_id', true) OR current_setting('cap.platform', true) = 'on'"
)


def upgrade() -> None:
    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("hours", JSON, nullable=True),
        sa.Column("after_hours_action", sa.String(length=10), nullable=False),
        sa.Column("after_hours_message", sa.Text(), nullable=False),
        sa.Column("after_hours_forward", sa.String(length=16), nullable=True),
        sa.Column("transfer_to", sa.String(length=16), nullable=True),
        sa.Column("dtmf", JSON, nullable=False),
        sa.Column("dtmf_to_agent", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id", "agent_id"],
            ["agents.org_id", "agents.id"],
            name=op.f("fk_phone_numbers_org_id_agent_id_agents"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_phone_numbers_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_numbers")),
        sa.UniqueConstraint("number", name=op.f("uq_phone_numbers_number")),
        sa.UniqueConstraint("org_id", "id", name=op.f("uq_phone_numbers_org_id_id")),
    )
    op.create_index(op.f("ix_phone_numbers_org_id"), "phone_numbers", ["org_id"], unique=False)
    op.create_index(op.f("ix_phone_numbers_agent_id"), "phone_numbers", ["agent_id"], unique=False)
    op.create_table(
        "phone_calls",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=True),
        sa.Column("from_number", sa.String(length=128), nullable=True),
        sa.Column("to_number", sa.String(length=128), nullable=True),
        sa.Column("agent_id", sa.String(length=36), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_secs", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_phone_calls_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_calls")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_phone_calls_call_sid")),
    )
    op.create_index(op.f("ix_phone_calls_org_id"), "phone_calls", ["org_id"], unique=False)
    op.create_index(
        "ix_phone_calls_org_id_started_at", "phone_calls", ["org_id", "started_at"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in RLS_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} "
                f"USING ({_POLICY}) WITH CHECK ({_POLICY})"
            )


def downgrade() -> None:
    op.drop_index("ix_phone_calls_org_id_started_at", table_name="phone_calls")
    op.drop_index(op.f("ix_phone_calls_org_id"), table_name="phone_calls")
    op.drop_table("phone_calls")
    op.drop_index(op.f("ix_phone_numbers_agent_id"), table_name="phone_numbers")
    op.drop_index(op.f("ix_phone_numbers_org_id"), table_name="phone_numbers")
    op.drop_table("phone_numbers")
