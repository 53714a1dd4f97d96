"""The tenant context: every ORM statement is scoped to one organisation.

A session is opened in one of three modes (``Scope``):

- ``tenant``: ORM queries get ``org_id = <tenant>`` added on every
  ``TenantOwned`` entity (``with_loader_criteria``), and flushes refuse rows of
  another organisation; on PostgreSQL the tenant is also set with
  ``set_config('cap.org_id', ..., is_local => true)`` at each transaction start,
  so row-level security filters what a forgotten criterion would let through.
- ``global``: identity work (users, login sessions) that must not see tenant
  tables at all; touching one raises ``UnscopedAccessError``.
- ``platform``: deliberate cross-tenant work (authentication lookups, platform
  administration); on PostgreSQL it sets ``cap.platform = on``, which the
  policies honour. It is never the default: callers ask for it by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Table, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, with_loader_criteria
from sqlalchemy.sql import visitors

from tenancy.db.base import TenantOwned, tenant_tables
from tenancy.errors import CrossTenantWriteError, UnscopedAccessError

ScopeKind = Literal["tenant", "global", "platform"]
_SCOPE_KEY = "cap.scope"


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    org_id: str | None = None

    def __post_init__(self) -> None:
        if (self.kind == "tenant") != (self.org_id is not None):
            raise ValueError("a tenant scope needs an org_id, and only a tenant scope has one")


class ScopedSession(Session):
    """The only session class the storage layer hands out."""


def scope_of(session: Session) -> Scope:
    scope = session.info.get(_SCOPE_KEY)
    if not isinstance(scope, Scope):
        raise UnscopedAccessError("session opened without a scope")
    return scope


def bind_scope(session: Session, scope: Scope) -> None:
    session.info[_SCOPE_KEY] = scope


def _touches_tenant_table(statement: Any) -> bool:
    names = set(tenant_tables())
    return any(isinstance(el, Table) and el.name in names for el in visitors.iterate(statement))


@event.listens_for(ScopedSession, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    scope = scope_of(state.session)
    if scope.kind == "platform" or state.is_column_load:
        return
    if scope.kind == "global":
        if _touches_tenant_table(state.statement):
            raise UnscopedAccessError("tenant table queried outside a tenant scope")
        return
    org_id = scope.org_id
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantOwned,
            lambda cls: cls.org_id == org_id,
            include_aliases=True,
        )
    )


@event.listens_for(ScopedSession, "before_flush")
def _check_flush(session: Session, _context: object, _instances: object) -> None:
    scope = scope_of(session)
    if scope.kind == "platform":
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, TenantOwned):
            continue
        if scope.kind == "global":
            raise UnscopedAccessError(f"{type(obj).__name__} written outside a tenant scope")
        if obj.org_id is None and obj in session.new:
            obj.org_id = scope.org_id
        elif obj.org_id != scope.org_id:
            raise CrossTenantWriteError(f"{type(obj).__name__} of another organisation")


_SET_SCOPE = text(
    "SELECT set_config('cap.org_id', :org, true), set_config('cap.platform', :p, true)"
)


def database_scope_params(scope: Scope) -> dict[str, str]:
    return {"org": scope.org_id or "", "p": "on" if scope.kind == "platform" else "off"}


@event.listens_for(ScopedSession, "after_begin")
def _set_database_tenant(
    session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    if connection.dialect.name != "postgresql":
        return
    connection.execute(_SET_SCOPE, database_scope_params(scope_of(session)))


async def rescope(session: AsyncSession, scope: Scope) -> None:
    """Moves an open transaction to another scope (e.g. platform-wide credential
    lookup, then the caller's tenant), saving a second transaction per request."""
    bind_scope(session.sync_session, scope)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_SET_SCOPE, database_scope_params(scope))
