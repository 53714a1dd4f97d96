"""Named permissions, the built-in roles, and what a member may actually do.

A role is a set of permissions. Built-in roles are fixed here; custom roles are
rows holding any subset. An API key carries scopes, which are permissions too:
a key may do what its scopes allow and nothing its creator could not.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Permission(StrEnum):
    ORG_READ = "org.read"
    ORG_MANAGE = "org.manage"
    MEMBERS_READ = "members.read"
    MEMBERS_MANAGE = "members.manage"
    TEAMS_READ = "teams.read"
    TEAMS_MANAGE = "teams.manage"
    ROLES_READ = "roles.read"
    ROLES_MANAGE = "roles.manage"
    INVITATIONS_READ = "invitations.read"
    INVITATIONS_MANAGE = "invitations.manage"
    API_KEYS_READ = "api_keys.read"
    API_KEYS_MANAGE = "api_keys.manage"
    AGENTS_READ = "agents.read"
    AGENTS_WRITE = "agents.write"
    AGENTS_PUBLISH = "agents.publish"
    # Talk to a published agent: text chat and voice sessions.
    AGENTS_USE = "agents.use"
    CREDENTIALS_READ = "credentials.read"
    CREDENTIALS_MANAGE = "credentials.manage"
    CONVERSATIONS_READ = "conversations.read"
    KNOWLEDGE_READ = "knowledge.read"
    KNOWLEDGE_WRITE = "knowledge.write"
    # Live latency figures and per-turn timelines of the organisation's calls.
    OPS_READ = "ops.read"
    # Phone numbers: which agent answers, business hours, the out-of-hours action.
    NUMBERS_READ = "numbers.read"
    NUMBERS_WRITE = "numbers.write"
    # Phone calls: the call log (usage) and live-call control (place, transfer, hang up).
    CALLS_READ = "calls.read"
    CALLS_WRITE = "calls.write"
    AUDIT_READ = "audit.read"


class BuiltinRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"
    DEVELOPER = "developer"


class AccountType(StrEnum):
    BUSINESS = "business"
    DEV_USER = "dev_user"
    DEVELOPER = "developer"
    AGENCY = "agency"


P = Permission
ALL_PERMISSIONS = frozenset(Permission)
_READS = frozenset(
    {
        P.ORG_READ,
        P.MEMBERS_READ,
        P.TEAMS_READ,
        P.ROLES_READ,
        P.AGENTS_READ,
        P.KNOWLEDGE_READ,
        P.NUMBERS_READ,
    }
)

ROLE_PERMISSIONS: dict[BuiltinRole, frozenset[Permission]] = {
    BuiltinRole.OWNER: ALL_PERMISSIONS,
    # Admins differ from owners in who they may change (owners only by owners),
    # a rule the membership service enforces, not a permission.
    BuiltinRole.ADMIN: ALL_PERMISSIONS,
    BuiltinRole.MEMBER: _READS
    | {
        P.AGENTS_WRITE,
        P.AGENTS_USE,
        P.KNOWLEDGE_WRITE,
        P.CREDENTIALS_READ,
        P.CONVERSATIONS_READ,
        P.CALLS_READ,
    },
    BuiltinRole.VIEWER: _READS | {P.CONVERSATIONS_READ, P.CALLS_READ},
    BuiltinRole.DEVELOPER: _READS
    | {
        P.AGENTS_WRITE,
        P.AGENTS_PUBLISH,
        P.AGENTS_USE,
        P.KNOWLEDGE_WRITE,
        P.OPS_READ,
        P.API_KEYS_READ,
        P.API_KEYS_MANAGE,
        P.CREDENTIALS_READ,
        P.CREDENTIALS_MANAGE,
        P.CONVERSATIONS_READ,
        P.NUMBERS_WRITE,
        P.CALLS_READ,
        P.CALLS_WRITE,
    },
}

# Dev users are technical members with limited admin access: whatever their
# role, they never manage the people side of an organisation.
DEV_USER_DENIED = frozenset(
    {P.TEAMS_MANAGE, P.MEMBERS_MANAGE, P.INVITATIONS_MANAGE, P.ROLES_MANAGE}
)


def parse_permissions(names: Iterable[str]) -> frozenset[Permission]:
    """Named permissions from untrusted input; raises ``ValueError`` on an unknown name."""
    out = set()
    for name in names:
        try:
            out.add(Permission(name))
        except ValueError:
            raise ValueError(f"unknown permission {name!r}") from None
    return frozenset(out)


def effective_permissions(
    role_permissions: frozenset[Permission], account_type: AccountType | str
) -> frozenset[Permission]:
    if account_type == AccountType.DEV_USER:
        return role_permissions - DEV_USER_DENIED
    return role_permissions
