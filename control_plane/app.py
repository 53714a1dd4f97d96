"""Assembles the FastAPI application from the routers of each area."""

from __future__ import annotations

from fastapi import FastAPI

from control_plane.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="CAP", version="0.1.0", summary="Voice-first AI agents platform")
    app.state.settings = settings

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Routers of each area are mounted below, one line each.
    from control_plane.voice.routes import router as voice_router

    app.include_router(voice_router)
    return app
