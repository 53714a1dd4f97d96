"""Knowledge bases: one row per organisation's knowledge base, under row-level security.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RLS_TABLES = ("knowledge_bases",)
# Same policy as 0001: rows of the transaction's organisation, or platform-wide.
_POLICY = (
    "org_id = current_setting('cap.org_id', true) OR current_setting('cap.platform', true) = 'on'"
)


def upgrade() -> None:
    op.create_table(
        "knowledge_bases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_knowledge_bases_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_bases")),
        sa.UniqueConstraint("org_id", "id", name=op.f("uq_knowledge_bases_org_id_id")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_knowledge_bases_org_id_name")),
    )
    op.create_index(op.f("ix_knowledge_bases_org_id"), "knowledge_bases", ["org_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for table in RLS_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} "
                f"USING ({_POLICY}) WITH CHECK ({_POLICY})"
            )


def downgrade() -> None:
    op.drop_index(op.f("ix_knowledge_bases_org_id"), table_name="knowledge_bases")
    op.drop_table("knowledge_bases")
