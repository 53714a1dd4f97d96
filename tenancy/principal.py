"""Who is calling, in which organisation, allowed to do what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tenancy.permissions import Permission

PrincipalKind = Literal["user", "api_key"]


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    # None for API keys: a key acts for its organisation, not for a person.
    user_id: str | None
    # None when the request needs no organisation (e.g. listing one's own orgs).
    org_id: str | None
    permissions: frozenset[Permission]
    account_type: str | None = None
    role: str | None = None
    is_platform_admin: bool = False
    session_id: str | None = None
    api_key_id: str | None = None
    # The platform admin acting as ``user_id``, when this is an impersonation.
    impersonator_id: str | None = None
    # When the credential itself ends (an API key's or a login's expiry), if it does.
    valid_until: datetime | None = None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions
