"""Database backends for tests: a migrated SQLite file and, when the server is
reachable, a migrated PostgreSQL schema of its own (with its own application
role) per test session, so parallel runs never collide. Both are dropped at the
end of the session.

Import the fixtures into a conftest: ``from tests.tenancy.backends import *``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from control_plane.db.migrate import migrate
from tenancy.db.engine import DatabaseConfig

PG_URL = os.environ.get(
    "CAP_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
# Set to 1 in CI: an unreachable server fails the run instead of skipping.
REQUIRE_PG = os.environ.get("CAP_TEST_REQUIRE_POSTGRES") == "1"

__all__ = ["Backend", "backend", "pg_backend", "sqlite_backend"]


@dataclass(frozen=True)
class Backend:
    name: str
    config: DatabaseConfig


async def _pg_reachable() -> bool:
    engine = create_async_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except (OSError, Exception):
        return False
    finally:
        await engine.dispose()


async def _drop_pg(schema: str, role: str) -> None:
    engine = create_async_engine(PG_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            exists = await conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname=:r"), {"r": role})
            if exists:
                await conn.execute(text(f'DROP OWNED BY "{role}"'))
                await conn.execute(text(f'DROP ROLE "{role}"'))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_backend(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    path: Path = tmp_path_factory.mktemp("capdb") / "cap.db"
    config = DatabaseConfig(url=f"sqlite+aiosqlite:///{path}")
    asyncio.run(migrate(config))
    return Backend("sqlite", config)


@pytest.fixture(scope="session")
def pg_backend() -> Iterator[Backend]:
    if not asyncio.run(_pg_reachable()):
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL not reachable at {PG_URL}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    suffix = f"{os.getpid()}_{secrets.token_hex(4)}"
    schema, role = f"cap_test_{suffix}", f"cap_test_app_{suffix}"
    config = DatabaseConfig(url=PG_URL, schema=schema, app_role=role)
    try:
        asyncio.run(migrate(config))
        yield Backend("postgres", config)
    finally:
        asyncio.run(_drop_pg(schema, role))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Parametrizes a test over both backends."""
    name = "sqlite_backend" if request.param == "sqlite" else "pg_backend"
    found: Backend = request.getfixturevalue(name)
    return found
