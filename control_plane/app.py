"""Assembles the FastAPI application from the routers of each area."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from control_plane.settings import Settings

# Each area may add a lifespan part (start engines, open pools); they are
# entered in order at startup and exited in reverse at shutdown.
LifespanPart = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    parts: list[LifespanPart] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for part in parts:
                await stack.enter_async_context(part(app))
            yield

    app = FastAPI(
        title="CAP",
        version="0.1.0",
        summary="Voice-first AI agents platform",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.lifespan_parts = parts

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Routers and lifespan parts of each area are mounted below.
    from control_plane.platform import install_platform, platform_lifespan

    install_platform(app, settings)
    parts.append(platform_lifespan)  # first: the database is up before voice starts

    from control_plane.ops.routes import router as ops_router
    from control_plane.voice.routes import router as voice_router
    from control_plane.voice.setup import voice_lifespan

    parts.append(voice_lifespan)
    app.include_router(voice_router)
    app.include_router(ops_router)
    from control_plane.numbers.mount import mount as mount_numbers
    from telephony.routes import router as telephony_router

    mount_numbers(app)  # before telephony: it borrows the numbers and the call log
    app.include_router(telephony_router)
    from control_plane.webrtc.mount import mount as mount_webrtc

    mount_webrtc(app, parts)
    from control_plane.knowledge.mount import mount as mount_knowledge

    mount_knowledge(app, parts)
    return app
