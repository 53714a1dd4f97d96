"""Tables of the tenancy package. Importing this registers them on ``Base``."""

from tenancy.models.audit import AuditEntry
from tenancy.models.identity import EmailOutbox, LoginSession, User, UserToken
from tenancy.models.keys import ApiKey
from tenancy.models.orgs import (
    CustomRole,
    FeatureFlag,
    Invitation,
    Membership,
    Organization,
    Team,
    TeamMember,
)

__all__ = [
    "ApiKey",
    "AuditEntry",
    "CustomRole",
    "EmailOutbox",
    "FeatureFlag",
    "Invitation",
    "LoginSession",
    "Membership",
    "Organization",
    "Team",
    "TeamMember",
    "User",
    "UserToken",
]
