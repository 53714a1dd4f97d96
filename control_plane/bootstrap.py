"""First start on an empty database: a default organisation, an admin, a demo
agent (published, slug ``default``) and a publishable widget key bound to that
agent and to the local serve origins, with the login and the key printed.

The seed runs on every ``cap serve`` but only acts while no user exists, so a
restart creates nothing; the plaintext key and password are printed that once
(the database keeps digests only)."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from control_plane.agents import service as agents
from control_plane.agents.config import AgentConfig
from control_plane.services import Services, build_services
from control_plane.settings import Settings
from tenancy import accounts, publishable
from tenancy.models import User
from tenancy.permissions import ROLE_PERMISSIONS, AccountType, BuiltinRole
from tenancy.principal import Principal

DEFAULT_ORG_NAME = "Default"
DEMO_AGENT_SLUG = "default"
DEMO_KEY_NAME = "widget demo"
# Hosts a browser on this machine reaches a loopback or wildcard bind under.
_LOCAL_HOSTS = ("127.0.0.1", "localhost")
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


@dataclass(frozen=True, slots=True)
class Seeded:
    org_id: str
    admin_user_id: str
    admin_password: str
    agent_id: str
    widget_key: str
    widget_origins: tuple[str, ...]


def serve_origins(host: str, port: int) -> tuple[str, ...]:
    """The ``Origin`` a browser sends from a page served at ``host:port``: the
    printed address itself, and its loopback aliases for a local or wildcard bind."""
    hosts = [host] if host not in _WILDCARD_HOSTS else []
    if host in _WILDCARD_HOSTS or host in _LOCAL_HOSTS or host == "::1":
        hosts += [*_LOCAL_HOSTS, "[::1]"]
    if host == "0.0.0.0":
        hosts.append(host)  # what ``cap serve`` prints for this bind
    named = [f"[{h}]" if ":" in h and not h.startswith("[") else h for h in hosts]
    suffix = "" if port == 80 else f":{port}"  # browsers leave the default port out
    return tuple(dict.fromkeys(f"http://{h}{suffix}" for h in named))


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
        origins = serve_origins(settings.host, settings.port)
        key = await publishable.create_publishable_key(
            session, owner, name=DEMO_KEY_NAME, agent_id=agent.id, origins=origins
        )
    return Seeded(done.org_id, done.user_id, password, agent.id, key.secret, origins)


def print_seeded(seeded: Seeded, settings: Settings) -> None:
    shown = "(from CAP_ADMIN_PASSWORD)" if settings.admin_password else seeded.admin_password
    print(
        "First start: created organisation 'default', the published demo agent "
        f"'{DEMO_AGENT_SLUG}', and:\n"
        f"  admin login:     {settings.admin_email} / {shown}\n"
        f"  widget key:      {seeded.widget_key}  (publishable: agent '{DEMO_AGENT_SLUG}', "
        f"pages at {', '.join(seeded.widget_origins)})\n"
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
