"""Migrations: they build exactly the schema the models describe, on both
backends; on PostgreSQL every tenant table has row-level security enabled and
forced, and the application role owns nothing."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from control_plane.db.migrate import current_revision, head_revision, migrate
from control_plane.db.schema import Base, rls_tables, tenant_tables
from tenancy.db.engine import Database, build_engine
from tests.tenancy.backends import Backend


def _diff(connection: Connection, schema: str | None) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "version_table_schema": schema}
    )
    return [d for d in compare_metadata(context, Base.metadata) if "alembic_version" not in str(d)]


async def test_migrated_schema_matches_the_models(backend: Backend) -> None:
    assert await current_revision(backend.config) == head_revision()
    await migrate(backend.config)  # a second run changes nothing
    engine = build_engine(
        backend.config.__class__(url=backend.config.url, schema=backend.config.schema)
    )
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff, backend.config.schema)
    finally:
        await engine.dispose()
    assert diff == []


def test_every_tenant_table_is_listed_for_row_level_security() -> None:
    # Each migration that adds tenant tables lists (and protects) its own.
    versions = Path(importlib.import_module("control_plane.db.migrations.versions").__file__ or "")
    listed: set[str] = set()
    for path in sorted(versions.parent.glob("0*.py")):
        migration = importlib.import_module(f"control_plane.db.migrations.versions.{path.stem}")
        listed |= set(migration.RLS_TABLES)
    assert listed == set(rls_tables())
    # And every tenant table really has the column the policy reads.
    for name in tenant_tables():
        assert "org_id" in Base.metadata.tables[name].c


@pytest.mark.postgres
async def test_rls_enabled_and_forced_and_app_role_owns_nothing(pg_backend: Backend) -> None:
    db = Database(pg_backend.config)
    try:
        async with db.global_() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                        "pg_get_userbyid(c.relowner) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = :s AND c.relkind = 'r'"
                    ),
                    {"s": pg_backend.config.schema},
                )
            ).all()
            policies = (
                (
                    await session.execute(
                        text("SELECT tablename FROM pg_policies WHERE schemaname = :s"),
                        {"s": pg_backend.config.schema},
                    )
                )
                .scalars()
                .all()
            )
            role = (await session.execute(text("SELECT current_user"))).scalar()
            super_or_bypass = (
                await session.execute(
                    text(
                        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
                    )
                )
            ).scalar()
        tables = {name: (rls, forced, owner) for name, rls, forced, owner in rows}
        for name in rls_tables():
            rls, forced, owner = tables[name]
            assert rls and forced, f"{name}: RLS enabled={rls} forced={forced}"
            assert owner != role, f"{name} is owned by the app role"
        assert set(policies) == set(rls_tables())
        assert role == pg_backend.config.app_role and super_or_bypass is False
        # The app role cannot switch the wall off.
        with pytest.raises(Exception, match="must be owner"):
            async with db.global_() as session:
                await session.execute(text("ALTER TABLE agents DISABLE ROW LEVEL SECURITY"))
    finally:
        await db.dispose()
