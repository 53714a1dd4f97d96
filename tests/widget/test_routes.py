"""The widget's files, config and demo page, mounted on the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from control_plane.app import create_app
from control_plane.settings import Settings
from control_plane.voice.runtime import VoiceRuntime
from control_plane.webrtc.gateway import WebRtcGateway
from control_plane.webrtc.keys import SettingsWidgetKeys
from tests.webrtc.stack import agent, registry

ICE = [
    {"urls": "stun:stun.example.org:3478"},
    {"urls": "turn:turn.example.org", "username": "u", "credential": "p"},
]


def make_client(tmp_path: Path, **settings: object) -> TestClient:
    app = create_app(Settings(data_dir=tmp_path, secret_key="widget-test", **settings))  # type: ignore[arg-type]
    app.state.voice = VoiceRuntime(
        registry(), {"default": agent(greeting="Hi there!", name="Shop helper")}
    )
    return TestClient(app)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(
        tmp_path_factory.mktemp("data"),
        webrtc_ice_servers=ICE,
        widget_keys={"pk_site": ["default", "ghost"]},
    ) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "media", "marker"),
    [
        ("/widget/cap-widget.js", "text/javascript", "window.CapWidget"),
        ("/widget/cap-session.js", "text/javascript", "export class VoiceCall"),
        ("/widget/cap-widget.css", "text/css", ".cap-launcher"),
        ("/widget/react/CapWidget.jsx", "text/javascript", "export function CapWidget"),
    ],
)
def test_widget_files_are_served_by_the_app(
    client: TestClient, path: str, media: str, marker: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media)
    assert response.headers["access-control-allow-origin"] == "*"
    assert "max-age" in response.headers["cache-control"]
    assert marker in response.text


def test_widget_loads_nothing_from_elsewhere(client: TestClient) -> None:
    """No absolute URL in code (comments show embedding examples): every file is ours."""
    for path in ("/widget/cap-widget.js", "/widget/cap-session.js", "/widget/cap-widget.css"):
        for line in client.get(path).text.splitlines():
            code = line.strip()
            if code.startswith(("*", "//", "/*")):
                continue
            assert "://" not in code, (path, code)


def test_demo_page_embeds_the_default_agent_with_its_key(client: TestClient) -> None:
    response = client.get("/widget/demo")
    assert response.status_code == 200
    key = SettingsWidgetKeys("widget-test").key_for("default")
    assert f'data-key="{key}"' in response.text
    assert 'src="/widget/cap-widget.js"' in response.text
    assert "{{" not in response.text


def test_config_gives_branding_defaults_and_ice_servers(client: TestClient) -> None:
    key = SettingsWidgetKeys("widget-test").key_for("default")
    response = client.get("/v1/widget/config", params={"agent": "default", "key": key})
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Shop helper" and body["greeting"] == "Hi there!"
    assert body["ice_servers"][0] == {
        "urls": "stun:stun.example.org:3478",
        "username": None,
        "credential": None,
    }
    assert body["ice_servers"][1]["username"] == "u"
    assert response.headers["access-control-allow-origin"] == "*"
    gateway: WebRtcGateway = client.app.state.webrtc  # type: ignore[attr-defined]
    assert [s.urls for s in gateway.ice_servers] == [s["urls"] for s in ICE]


def test_config_refuses_wrong_keys_and_missing_agents(client: TestClient) -> None:
    wrong = client.get("/v1/widget/config", params={"agent": "default", "key": "pk_nope"})
    assert wrong.status_code == 403
    assert wrong.headers["access-control-allow-origin"] == "*"
    ghost = client.get("/v1/widget/config", params={"agent": "ghost", "key": "pk_site"})
    assert ghost.status_code == 404
    assert client.get("/v1/widget/config", params={"agent": "default"}).status_code == 422


def test_bad_ice_server_settings_fail_at_start(tmp_path: Path) -> None:
    client = make_client(tmp_path, webrtc_ice_servers=[{"urls": "http://nope"}])
    with pytest.raises(ValidationError), client:
        pass
