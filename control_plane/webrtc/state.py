"""Per-app WebRTC state: widget keys, the admitter that checks them, ICE servers."""

from __future__ import annotations

from fastapi import FastAPI

from control_plane.settings import Settings
from control_plane.webrtc.admission import (
    LocalWidgetAdmitter,
    PlatformWidgetAdmitter,
    WidgetAdmitter,
)
from control_plane.webrtc.keys import SettingsWidgetKeys, WidgetKeyChecker
from control_plane.webrtc.schemas import IceServer


def widget_keys(app: FastAPI) -> WidgetKeyChecker:
    """The keys from settings (derived per agent, and explicit ones)."""
    keys: WidgetKeyChecker | None = getattr(app.state, "widget_keys", None)
    if keys is None:
        settings: Settings = app.state.settings
        keys = SettingsWidgetKeys(settings.secret_key, settings.widget_keys)
        app.state.widget_keys = keys
    return keys


def widget_admitter(app: FastAPI) -> WidgetAdmitter:
    """Control-plane publishable keys when the app has a control plane, then the
    settings keys for the local agents."""
    admitter: WidgetAdmitter | None = getattr(app.state, "widget_admitter", None)
    if admitter is None:
        local = LocalWidgetAdmitter(widget_keys(app), app.state.voice)
        services = getattr(app.state, "services", None)
        admitter = PlatformWidgetAdmitter(services, local) if services is not None else local
        app.state.widget_admitter = admitter
    return admitter


def ice_servers(settings: Settings) -> list[IceServer]:
    return [IceServer(**server) for server in settings.webrtc_ice_servers]
