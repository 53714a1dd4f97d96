"""First start on an empty database: a default organisation, an admin, a demo agent."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from control_plane.services import Services
from tenancy import accounts
from tenancy.models import User
from tenancy.permissions import AccountType

DEFAULT_ORG_NAME = "Default"


async def seed(services: Services) -> bool:
    """Seeds when no user exists yet; returns whether it did. Prints the login."""
    async with services.db.global_() as session:
        users = await session.scalar(select(func.count()).select_from(User))
    if users:
        return False
    settings = services.settings
    password = settings.admin_password or secrets.token_urlsafe(12)
    done = await accounts.register(
        services.db,
        services.passwords,
        services.accounts,
        email=settings.admin_email,
        password=password,
        name="Administrator",
        account_type=AccountType.BUSINESS,
        org_name=DEFAULT_ORG_NAME,
        verified=True,
        platform_admin=True,
    )
    assert done.org_id is not None
    print(
        "CAP first start: created organisation 'default', a demo agent, and the admin login\n"
        f"  email:    {settings.admin_email}\n"
        f"  password: {password if not settings.admin_password else '(from CAP_ADMIN_PASSWORD)'}",
        flush=True,
    )
    return True
