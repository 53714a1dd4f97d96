"""First start on an empty database: a default organisation, an admin, a demo
agent (published, slug ``default``) and a widget API key, with the login printed."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from control_plane.agents import service as agents
from control_plane.agents.config import AgentConfig
from control_plane.services import Services, build_services
from control_plane.settings import Settings
from tenancy import accounts, apikeys
from tenancy.models import User
from tenancy.permissions import ROLE_PERMISSIONS, AccountType, BuiltinRole, Permission
from tenancy.principal import Principal

DEFAULT_ORG_NAME = "Default"
DEMO_AGENT_SLUG = "default"
DEMO_KEY_SCOPES = (Permission.AGENTS_READ, Permission.AGENTS_USE)


@dataclass(frozen=True, slots=True)
class Seeded:
    org_id: str
    admin_user_id: str
    admin_password: str
    agent_id: str
    widget_key: str


async def seed(services: Services) -> Seeded | None:
    """Seeds when no user exists yet (returns what it made), else does nothing."""
    async with services.db.global_() as session:
        users = await session.scalar(select(func.count()).select_from(User))
    if users:
        return None
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
    owner = Principal(
        kind="user",
        user_id=done.user_id,
        org_id=done.org_id,
        permissions=ROLE_PERMISSIONS[BuiltinRole.OWNER],
        role=BuiltinRole.OWNER.value,
    )
    async with services.db.tenant(done.org_id) as session:
        agent = await agents.create_agent(
            session,
            name="Demo assistant",
            type_="hybrid",
            slug=DEMO_AGENT_SLUG,
            config=AgentConfig(),
        )
        await agents.publish(session, agent.id, done.user_id)
        key = await apikeys.create_key(
            session, owner, name="widget demo", scopes=[p.value for p in DEMO_KEY_SCOPES]
        )
    return Seeded(done.org_id, done.user_id, password, agent.id, key.secret)


def print_seeded(seeded: Seeded, settings: Settings) -> None:
    shown = "(from CAP_ADMIN_PASSWORD)" if settings.admin_password else seeded.admin_password
    print(
        "First start: created organisation 'default', the published demo agent "
        f"'{DEMO_AGENT_SLUG}', and:\n"
        f"  admin login:     {settings.admin_email} / {shown}\n"
        f"  widget API key:  {seeded.widget_key}  (scopes agents.read, agents.use)\n"
        "  Shown once: keep them (the database stores only hashes).",
        flush=True,
    )


async def prepare(settings: Settings) -> Seeded | None:
    """Migrations, then the first-run seed."""
    from control_plane.db.migrate import migrate

    services = build_services(settings)
    try:
        await migrate(services.db.config)
        return await seed(services)
    finally:
        await services.limiter.aclose()
        await services.db.dispose()


def prepare_database(settings: Settings) -> None:
    """For ``cap serve``: migrate and seed before the server starts."""
    seeded = asyncio.run(prepare(settings))
    if seeded is not None:
        print_seeded(seeded, settings)


def migrate_command(settings: Settings | None = None) -> int:
    """``cap migrate``."""
    from control_plane.db.migrate import current_revision, migrate
    from control_plane.services import database_config

    settings = settings or Settings()
    config = database_config(settings)
    asyncio.run(migrate(config))
    print(f"database at revision {asyncio.run(current_revision(config))}")
    return 0
