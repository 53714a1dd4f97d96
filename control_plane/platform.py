"""Mounts the control plane onto the app: services, edge limits, error mapping,
routers, and the startup work (migrations, first-run seed, mail delivery)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from control_plane.agents import resolve
from control_plane.api.errors import install_error_handlers
from control_plane.api.limits import BodySizeLimit, IpRateLimit
from control_plane.services import LLMFactory, Services, build_services
from control_plane.settings import Settings
from control_plane.voice.setup import provider_defaults
from pipelines.agent import ProviderSpec
from pipelines.providers.base import LLMProvider
from pipelines.providers.registry import ProviderRegistry
from tenancy.outbox import deliver_pending

log = logging.getLogger("cap.platform")

UPLOAD_MAX_BYTES = 26 * 1024 * 1024  # rag's 25 MiB file limit plus multipart framing
OUTBOX_POLL_SECONDS = 2.0


def install_platform(app: FastAPI, settings: Settings) -> Services:
    services = build_services(settings)
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=services.limits.max_request_bytes,
        # Document uploads: rag enforces its own per-file limit (25 MiB) after this.
        larger=((r"/v1/knowledge-bases/[^/]+/documents", UPLOAD_MAX_BYTES),),
    )
    app.add_middleware(IpRateLimit)
    services.llm_factory = _shared_llm_factory(app, ProviderRegistry(provider_defaults(settings)))
    for router in _routers():
        app.include_router(router)
    resolve.install(services)
    return services


def _routers() -> list[Any]:
    from control_plane.admin.routes import router as admin
    from control_plane.agents.routes import router as agents
    from control_plane.chat.openai_compat import router as openai_compat
    from control_plane.chat.routes import router as chat
    from control_plane.chat.ws import router as chat_ws
    from control_plane.credentials.routes import router as credentials
    from control_plane.identity.auth_routes import router as auth
    from control_plane.identity.key_routes import router as keys
    from control_plane.identity.org_routes import router as orgs
    from control_plane.identity.team_routes import router as teams

    return [auth, orgs, teams, keys, agents, credentials, chat, chat_ws, openai_compat, admin]


async def start_platform(app: FastAPI) -> None:
    services: Services = app.state.services
    settings = services.settings
    if settings.migrate_on_start:
        from control_plane.db.migrate import migrate

        await migrate(services.db.config)
    if settings.seed_on_start:
        from control_plane.bootstrap import print_seeded, seed

        seeded = await seed(services)
        if seeded is not None:
            print_seeded(seeded, settings)
    app.state.outbox_task = asyncio.create_task(_deliver_mail_forever(services))


async def stop_platform(app: FastAPI) -> None:
    services: Services = app.state.services
    task: asyncio.Task[None] | None = getattr(app.state, "outbox_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5.0)
    await services.limiter.aclose()
    await services.db.dispose()


async def _deliver_mail_forever(services: Services) -> None:
    while True:
        try:
            await deliver_pending(services.db, services.mailer)
        except Exception:  # a bad mail or a database blip must not end delivery
            log.exception("mail delivery failed; retrying")
        await asyncio.sleep(OUTBOX_POLL_SECONDS)


@asynccontextmanager
async def platform_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The control plane's lifespan part (``app.state.lifespan_parts``)."""
    await start_platform(app)
    try:
        yield
    finally:
        await stop_platform(app)


def _shared_llm_factory(app: FastAPI, own: ProviderRegistry) -> LLMFactory:
    """Text chat builds LLMs from the voice runtime's registry when there is one,
    so a local model loaded for voice is not loaded twice."""

    def build(specs: Sequence[ProviderSpec]) -> LLMProvider:
        runtime = getattr(app.state, "voice", None)
        registry: ProviderRegistry = runtime.registry if runtime is not None else own
        return registry.llm(specs)

    return build
