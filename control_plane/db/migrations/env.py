"""Alembic environment: always driven programmatically by ``control_plane.db.migrate``,
which hands over an open connection (so the same code serves SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic import context

from control_plane.db.schema import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table_schema=config.attributes.get("schema"),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
