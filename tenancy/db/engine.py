"""The database handle: one async engine, sessions opened per scope.

SQLite (aiosqlite) is the embedded default, PostgreSQL (asyncpg) the
production engine; the code path is the same. On PostgreSQL the app assumes a
role that does not own the tables (``SET ROLE``), so row-level security applies
to it even where the owner would be exempt.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from tenancy.db.scoping import Scope, ScopedSession, bind_scope

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_identifier(name: str) -> str:
    """Schema and role names are spliced into SQL: allow only plain identifiers."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str
    # PostgreSQL schema holding the tables (None = the server's default search path).
    schema: str | None = None
    # PostgreSQL role the app switches to on connect; None = use the login role as is
    # (then that login role must not own the tables, or RLS is only a formality).
    app_role: str | None = None
    pool_size: int = 10
    sqlite_busy_timeout_ms: int = 30_000
    echo: bool = False

    @property
    def dialect(self) -> str:
        return make_url(self.url).get_backend_name()


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # Foreign keys are off by default in SQLite; WAL lets readers run beside a writer.
        for pragma in (
            "PRAGMA foreign_keys=ON",
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            f"PRAGMA busy_timeout={int(busy_timeout_ms)}",
        ):
            cursor.execute(pragma)
        cursor.close()

    return on_connect


def _postgres_role(role: str) -> Any:
    statement = f'SET ROLE "{check_identifier(role)}"'

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()

    return on_connect


def build_engine(config: DatabaseConfig) -> AsyncEngine:
    url = make_url(config.url)
    kwargs: dict[str, Any] = {"echo": config.echo}
    if config.dialect == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(config.sqlite_busy_timeout_ms))
        return engine
    if config.schema:
        check_identifier(config.schema)
        kwargs["connect_args"] = {"server_settings": {"search_path": config.schema}}
    engine = create_async_engine(url, pool_size=config.pool_size, pool_pre_ping=True, **kwargs)
    if config.app_role:
        event.listen(engine.sync_engine, "connect", _postgres_role(config.app_role))
    return engine


class Database:
    """Sessions come only from here, and only with a scope."""

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config
        self.engine = build_engine(config)
        self._factory = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=ScopedSession
        )

    @property
    def dialect(self) -> str:
        return self.config.dialect

    @asynccontextmanager
    async def _session(self, scope: Scope) -> AsyncIterator[AsyncSession]:
        async with self._factory() as session:
            bind_scope(session.sync_session, scope)
            async with session.begin():
                yield session

    def tenant(self, org_id: str) -> AbstractAsyncContextManager[AsyncSession]:
        """A transaction that sees and writes only ``org_id``'s rows."""
        return self._session(Scope("tenant", org_id))

    def global_(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A transaction over global tables (users, login sessions) only."""
        return self._session(Scope("global"))

    def platform(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A deliberate cross-tenant transaction (authentication, platform admin)."""
        return self._session(Scope("platform"))

    async def dispose(self) -> None:
        await self.engine.dispose()
