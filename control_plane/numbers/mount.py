"""Mounts phone numbers and calls on the app (one call from app.py): the routers,
and the pieces telephony borrows through ``app.state`` (see telephony.routes)."""

from __future__ import annotations

from fastapi import FastAPI

from control_plane.numbers.call_log import PlatformCallLog
from control_plane.numbers.call_routes import router as calls_router
from control_plane.numbers.lines import PhoneLineHost, PlatformNumberDirectory
from control_plane.numbers.routes import router as numbers_router
from control_plane.services import Services


def mount(app: FastAPI) -> None:
    services: Services = app.state.services
    app.state.number_directory = PlatformNumberDirectory(services)
    app.state.call_log = PlatformCallLog(services)
    app.state.telephony_host = PhoneLineHost(app, services)
    app.include_router(numbers_router)
    app.include_router(calls_router)
