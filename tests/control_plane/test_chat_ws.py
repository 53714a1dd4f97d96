"""Text chat over a WebSocket (Starlette's test client; setup through its portal)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from control_plane.app import create_app
from tests.control_plane.conftest import settings_for
from tests.control_plane.fake_llm import FakeLLMFactory
from tests.control_plane.support import Api, Person
from tests.tenancy.backends import Backend


@pytest.fixture
def ws_client(backend: Backend, tmp_path: Path) -> Iterator[tuple[TestClient, Api]]:
    app = create_app(settings_for(backend, tmp_path))
    with TestClient(app) as client:
        api = Api(app, None)  # type: ignore[arg-type]
        app.state.services.llm_factory = FakeLLMFactory()
        yield client, api


def _conversation(client: TestClient, api: Api) -> tuple[Person, str]:
    assert client.portal is not None
    owner: Person = client.portal.call(api.person)
    h = owner.headers()
    agent = client.post("/v1/agents", headers=h, json={"name": "Bot"}).json()
    client.post(f"/v1/agents/{agent['id']}/publish", headers=h)
    conv = client.post(f"/v1/agents/{agent['id']}/conversations", headers=h, json={}).json()
    return owner, conv["id"]


def test_turns_over_websocket_with_first_message_auth(ws_client: tuple[TestClient, Api]) -> None:
    client, api = ws_client
    owner, cid = _conversation(client, api)
    with client.websocket_connect(f"/v1/conversations/{cid}/ws") as ws:
        ws.send_json({"type": "auth", "token": owner.token})
        assert ws.receive_json() == {"type": "ready", "conversation_id": cid}
        for _ in range(2):
            ws.send_json({"type": "message", "content": "hello"})
            text = ""
            while (msg := ws.receive_json())["type"] == "delta":
                text += msg["text"]
            assert msg["type"] == "done" and msg["message"]["content"] == text
        # Bad messages get an error and the connection lives on.
        for bad in ("not json", '{"type": "message"}', '{"type": "message", "content": "\\u0000"}'):
            ws.send_text(bad)
            assert ws.receive_json()["type"] == "error"
        ws.send_json({"type": "message", "content": "still here?"})
        while ws.receive_json()["type"] != "done":
            pass
    detail = client.get(f"/v1/conversations/{cid}", headers=owner.headers()).json()
    assert len(detail["messages"]) == 6


def test_websocket_refuses_strangers_and_suspended_orgs(ws_client: tuple[TestClient, Api]) -> None:
    client, api = ws_client
    owner, cid = _conversation(client, api)
    assert client.portal is not None
    stranger: Person = client.portal.call(api.person)
    with client.websocket_connect(
        f"/v1/conversations/{cid}/ws", headers={"Authorization": f"Bearer {stranger.token}"}
    ) as ws:
        msg = ws.receive_json()
        assert msg["type"] == "error" and "not found" in msg["message"]
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()

    admin: Person = client.portal.call(lambda: api.person(admin=True, org=False))
    with client.websocket_connect(
        f"/v1/conversations/{cid}/ws", headers={"Authorization": f"Bearer {owner.token}"}
    ) as ws:
        assert ws.receive_json()["type"] == "ready"
        r = client.post(f"/v1/admin/orgs/{owner.org_id}/suspend", headers=admin.headers(), json={})
        assert r.status_code == 200
        ws.send_json({"type": "message", "content": "anyone?"})
        msg = ws.receive_json()
        assert msg["type"] == "error" and "suspended" in msg["message"]
