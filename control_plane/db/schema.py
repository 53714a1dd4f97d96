"""Every table of the platform, imported in one place (migrations and tests use it)."""

from __future__ import annotations

import control_plane.agents.models
import control_plane.chat.models
import control_plane.credentials.models
import control_plane.knowledge.models
import control_plane.numbers.models
import tenancy.models
from tenancy.db.base import Base, tenant_tables

__all__ = ["Base", "rls_tables", "tenant_tables"]

_MODULES = (
    tenancy.models,
    control_plane.agents.models,
    control_plane.chat.models,
    control_plane.credentials.models,
    control_plane.knowledge.models,
    control_plane.numbers.models,
)


def rls_tables() -> list[str]:
    """Tables under row-level security: every tenant table, plus the tenant root."""
    return ["organizations", *tenant_tables()]
