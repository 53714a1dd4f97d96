"""The tenant context: scoped ORM statements, refused unscoped access, and on
PostgreSQL the row-level-security wall under raw SQL."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from tenancy.db.base import new_id
from tenancy.db.engine import Database
from tenancy.errors import CrossTenantWriteError, UnscopedAccessError
from tenancy.models import Organization, Team


async def _two_orgs(db: Database) -> tuple[str, str]:
    a, b = new_id(), new_id()
    async with db.platform() as s:
        s.add_all(
            [
                Organization(id=a, name="A", slug=f"a-{a[:8]}"),
                Organization(id=b, name="B", slug=f"b-{b[:8]}"),
            ]
        )
        await s.flush()
        s.add_all([Team(org_id=a, name="alpha"), Team(org_id=b, name="beta")])
    return a, b


async def test_tenant_scope_sees_only_its_rows(db: Database) -> None:
    a, b = await _two_orgs(db)
    async with db.tenant(a) as s:
        names = (await s.scalars(select(Team.name))).all()
        assert names == ["alpha"]
        # Even a query naming the other tenant explicitly finds nothing.
        assert (await s.scalars(select(Team).where(Team.org_id == b))).all() == []


async def test_orm_update_and_delete_are_scoped(db: Database) -> None:
    a, b = await _two_orgs(db)
    async with db.tenant(a) as s:
        await s.execute(update(Team).values(description="touched"))
        await s.execute(delete(Team).where(Team.name == "beta"))
    async with db.platform() as s:
        beta = await s.scalar(select(Team).where(Team.org_id == b))
        alpha = await s.scalar(select(Team).where(Team.org_id == a))
    assert beta is not None and beta.description == ""
    assert alpha is not None and alpha.description == "touched"


async def test_new_rows_take_the_tenant_and_foreign_rows_are_refused(db: Database) -> None:
    a, b = await _two_orgs(db)
    async with db.tenant(a) as s:
        team = Team(name="gamma")
        s.add(team)
        await s.flush()
        assert team.org_id == a
    with pytest.raises(CrossTenantWriteError):
        async with db.tenant(a) as s:
            s.add(Team(org_id=b, name="intruder"))
    async with db.platform() as s:
        assert await s.scalar(select(Team).where(Team.name == "intruder")) is None


async def test_global_scope_refuses_tenant_tables(db: Database) -> None:
    await _two_orgs(db)
    with pytest.raises(UnscopedAccessError):
        async with db.global_() as s:
            await s.execute(select(Team))
    with pytest.raises(UnscopedAccessError):
        async with db.global_() as s:
            # Hidden in a subquery: still found.
            await s.execute(select(Organization).where(Organization.id.in_(select(Team.org_id))))
    with pytest.raises(UnscopedAccessError):
        async with db.global_() as s:
            s.add(Team(org_id=new_id(), name="x"))


async def test_platform_scope_sees_every_tenant(db: Database) -> None:
    a, b = await _two_orgs(db)
    async with db.platform() as s:
        orgs = set((await s.scalars(select(Team.org_id).where(Team.org_id.in_([a, b])))).all())
    assert orgs == {a, b}


@pytest.mark.postgres
async def test_row_level_security_holds_under_raw_sql(pg_backend: object) -> None:
    from tests.tenancy.backends import Backend

    assert isinstance(pg_backend, Backend)
    db = Database(pg_backend.config)
    try:
        a, b = await _two_orgs(db)
        async with db.tenant(a) as s:
            # No ORM criteria here: only the database policy filters.
            rows = (await s.execute(text("SELECT org_id FROM teams"))).scalars().all()
            assert set(rows) == {a}
            orgs = (await s.execute(text("SELECT id FROM organizations"))).scalars().all()
            assert orgs == [a]
        with pytest.raises(DBAPIError, match="row-level security"):
            async with db.tenant(a) as s:
                await s.execute(
                    text(
                        "INSERT INTO teams (id, org_id, name, description, created_at) "
                        "VALUES (:i, :o, 'sneaky', '', now())"
                    ),
                    {"i": new_id(), "o": b},
                )
        async with db.global_() as s:
            # No tenant set at all: the policy shows nothing.
            assert (await s.execute(text("SELECT count(*) FROM teams"))).scalar() == 0
            # The app role cannot switch the wall off.
            role = (await s.execute(text("SELECT current_user"))).scalar()
            assert role == pg_backend.config.app_role
    finally:
        await db.dispose()
