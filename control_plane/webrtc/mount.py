"""Mounts WebRTC calls and the browser widget on the app (one call from app.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from control_plane.webrtc.gateway import WebRtcGateway
from control_plane.webrtc.routes import router as webrtc_router
from control_plane.webrtc.state import ice_servers, widget_admitter
from control_plane.widget.routes import router as widget_router

LifespanPart = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def webrtc_lifespan(app: FastAPI) -> AsyncIterator[None]:
    gateway: WebRtcGateway | None = getattr(app.state, "webrtc", None)
    if gateway is None:
        gateway = WebRtcGateway(
            app.state.voice, widget_admitter(app), ice_servers=ice_servers(app.state.settings)
        )
        app.state.webrtc = gateway
    # A suspended organisation's calls end, connected or still connecting.
    services = getattr(app.state, "services", None)
    listeners = services.suspension_listeners if services is not None else []
    listeners.append(gateway.end_sessions_of)
    try:
        yield
    finally:
        listeners.remove(gateway.end_sessions_of)
        await gateway.aclose()


def mount(app: FastAPI, parts: list[LifespanPart]) -> None:
    # After the voice part: entered once the runtime exists, exited before it stops.
    parts.append(webrtc_lifespan)
    app.include_router(webrtc_router)
    app.include_router(widget_router)
