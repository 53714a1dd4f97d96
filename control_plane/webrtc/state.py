"""Per-app WebRTC state: the widget key checker and ICE servers from settings."""

from __future__ import annotations

from fastapi import FastAPI

from control_plane.settings import Settings
from control_plane.webrtc.keys import SettingsWidgetKeys, WidgetKeyChecker
from control_plane.webrtc.schemas import IceServer


def widget_keys(app: FastAPI) -> WidgetKeyChecker:
    """The app's key checker: one set by the control plane, else keys from settings."""
    keys: WidgetKeyChecker | None = getattr(app.state, "widget_keys", None)
    if keys is None:
        settings: Settings = app.state.settings
        keys = SettingsWidgetKeys(settings.secret_key, settings.widget_keys)
        app.state.widget_keys = keys
    return keys


def ice_servers(settings: Settings) -> list[IceServer]:
    return [IceServer(**server) for server in settings.webrtc_ice_servers]
