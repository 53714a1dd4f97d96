"""Runs the Alembic migrations programmatically (no alembic.ini to ship or find).

Called at startup and by ``cap migrate``. On PostgreSQL it also creates the
schema and the application role, and grants that role the data privileges it
needs (never ownership: a table owner could turn row-level security off).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from tenancy.db.engine import DatabaseConfig, build_engine, check_identifier

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Arbitrary constant: nodes starting together migrate one at a time.
_MIGRATION_LOCK = 0x0CA9_0001


def alembic_config(schema: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["schema"] = schema
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def migrate(config: DatabaseConfig, revision: str = "head") -> None:
    """Bring the schema to ``revision``, connected as the owner (no ``SET ROLE``)."""
    owner = DatabaseConfig(url=config.url, schema=config.schema, echo=config.echo)
    engine = build_engine(owner)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
                if config.schema:
                    await conn.execute(
                        text(f'CREATE SCHEMA IF NOT EXISTS "{check_identifier(config.schema)}"')
                    )
            await conn.run_sync(_upgrade, alembic_config(config.schema), revision)
            if conn.dialect.name == "postgresql" and config.app_role:
                await conn.run_sync(_grant_app_role, config.app_role, config.schema)
    finally:
        await engine.dispose()


async def current_revision(config: DatabaseConfig) -> str | None:
    engine = build_engine(DatabaseConfig(url=config.url, schema=config.schema))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current, config.schema)
    finally:
        await engine.dispose()


def _current(connection: Connection, schema: str | None) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    return context.get_current_revision()


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _grant_app_role(connection: Connection, role: str, schema: str | None) -> None:
    role = check_identifier(role)
    target = check_identifier(schema) if schema else "public"
    exists = connection.execute(
        text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).scalar()
    if not exists:
        # NOLOGIN: the app reaches it with SET ROLE from its login role.
        connection.execute(text(f'CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS'))
    connection.execute(text(f'GRANT "{role}" TO CURRENT_USER'))
    connection.execute(text(f'GRANT USAGE ON SCHEMA "{target}" TO "{role}"'))
    connection.execute(
        text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{target}" TO "{role}"')
    )
    connection.execute(text(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{target}" TO "{role}"'))
