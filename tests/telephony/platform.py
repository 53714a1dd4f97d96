"""The full app (control plane and telephony) over ASGI, with Twilio's side faked:
the REST API by ``TwilioRestFake``, webhooks signed with the test auth token."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from control_plane.app import create_app
from control_plane.voice.runtime import VoiceRuntime
from telephony.service import TwilioTelephony
from tests.control_plane.conftest import settings_for
from tests.control_plane.support import Api, Person
from tests.telephony.support import (
    SECRET,
    fake_agent,
    fake_registry,
    live_server,
    twilio_settings,
)
from tests.tenancy.backends import Backend

BASE = "http://cap.test"
VOICE = f"{BASE}/telephony/twilio/voice"
STATUS = f"{BASE}/telephony/twilio/status"
FAKE_AGENT_CONFIG = {
    "stt": [{"provider": "fake"}],
    "llm": [{"provider": "fake"}],
    "tts": [{"provider": "fake"}],
    "greeting": None,
}


def fresh_number() -> str:
    return "+1555" + str(secrets.randbelow(10**7)).zfill(7)


def fresh_sid() -> str:
    return "CA" + secrets.token_hex(16)


@dataclass
class Platform:
    app: FastAPI
    api: Api
    telephony: TwilioTelephony
    runtime: VoiceRuntime
    base: str  # where Twilio reaches the app

    async def ok(self, method: str, path: str, who: Person | None, **kw: Any) -> Any:
        r = await self.api.call(method, path, who, **kw)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json()

    async def published_agent(self, owner: Person, *, publish: bool = True) -> str:
        agent = await self.ok(
            "POST",
            "/v1/agents",
            owner,
            json={"name": f"line {secrets.token_hex(3)}", "config": FAKE_AGENT_CONFIG},
        )
        if publish:
            await self.ok("POST", f"/v1/agents/{agent['id']}/publish", owner)
        agent_id: str = agent["id"]
        return agent_id

    async def number(self, owner: Person, agent_id: str, **fields: Any) -> dict[str, Any]:
        body = {"number": fresh_number(), "agent_id": agent_id, **fields}
        created: dict[str, Any] = await self.ok("POST", "/v1/numbers", owner, json=body)
        return created


@asynccontextmanager
async def platform_app(
    backend: Backend,
    data_dir: Path,
    *,
    rest_url: str | None = None,
    serve: bool = False,
    stt_script: tuple[str, ...] = (),
    **twilio: object,
) -> AsyncIterator[Platform]:
    """The app over ASGI at ``BASE``, or (``serve``) run by uvicorn on a real socket
    with its lifespan, for media streams."""
    app = create_app(settings_for(backend, data_dir, public_url=BASE))
    runtime = VoiceRuntime(fake_registry(stt_script), {"default": fake_agent()})
    app.state.voice = runtime
    # What the app builds from CAP_TWILIO_*, with the test account and the app's
    # own number directory and call log.
    telephony = TwilioTelephony(
        twilio_settings(rest_url, caller_id=None, **twilio),
        public_url=BASE,
        secret_key=SECRET,
        directory=app.state.number_directory,
        calls=app.state.call_log,
    )
    app.state.telephony = telephony
    if serve:
        async with live_server(app) as base, httpx.AsyncClient(base_url=base) as client:
            telephony.public_url = base  # the lifespan closes what it started
            yield Platform(app, Api(app, client), telephony, runtime, base)
        return
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield Platform(app, Api(app, client), telephony, runtime, BASE)
    finally:
        await telephony.aclose()
        await runtime.aclose()
        services = app.state.services
        await app.state.knowledge.aclose()
        await services.limiter.aclose()
        await services.db.dispose()
