"""Shared set-up of the telephony tests: a small app, a live server, Twilio's webhook side."""

from __future__ import annotations

import asyncio
import contextlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx
import uvicorn
from fastapi import FastAPI

from control_plane.voice.runtime import VoiceRuntime
from pipelines.agent import AgentSpec, ProviderSpec
from pipelines.providers.fake import FakeLLM, FakeLLMKnobs, FakeSTT, FakeTTS, FakeTTSKnobs
from pipelines.providers.registry import ProviderRegistry
from telephony.numbers import DtmfRule, InMemoryNumberDirectory, NumberRoute
from telephony.routes import router
from telephony.service import TwilioTelephony, utcnow
from telephony.settings import TwilioSettings
from telephony.signature import SignatureChecker
from telephony.wire import MediaWebSocketProtocol
from tests.telephony.twilio_rest import ACCOUNT_SID, AUTH_TOKEN

AGENT_NUMBER = "+15550001111"
CALLER = "+15557770000"
HUMAN = "+15559990000"
SECRET = "test-secret-key-for-stream-tokens"
STORY = " ".join(f"Part {i} of the story goes on for quite a long while." for i in range(8))


def story_or_echo(messages: object) -> str:
    last = [m for m in messages if m.role == "user"][-1].content  # type: ignore[attr-defined]
    return STORY if "story" in last.lower() else f"You said {last}."


def fake_registry(stt_script: tuple[str, ...] = ()) -> ProviderRegistry:
    registry = ProviderRegistry()
    registry.register("stt", "fake", lambda: FakeSTT(stt_script))
    registry.register(
        "llm",
        "fake",
        lambda: FakeLLM(story_or_echo, FakeLLMKnobs(first_token_latency=0.02, token_interval=1e-3)),
    )
    registry.register("tts", "fake", lambda: FakeTTS(knobs=FakeTTSKnobs(first_audio_latency=0.02)))
    return registry


def fake_agent(agent_id: str = "default") -> AgentSpec:
    fake = (ProviderSpec("fake"),)
    return AgentSpec(id=agent_id, greeting=None, stt=fake, llm=fake, tts=fake)


def twilio_settings(api_base_url: str | None = None, **overrides: object) -> TwilioSettings:
    values: dict[str, object] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "api_base_url": api_base_url,
        "caller_id": AGENT_NUMBER,
        "default_agent": None,
        **overrides,
    }
    return TwilioSettings(**values)  # type: ignore[arg-type]


def directory() -> InMemoryNumberDirectory:
    return InMemoryNumberDirectory(
        {
            AGENT_NUMBER: NumberRoute(
                number=AGENT_NUMBER,
                agent_id="default",
                transfer_to=HUMAN,
                dtmf={"0": DtmfRule("transfer"), "9": DtmfRule("hangup")},
            )
        }
    )


def make_app(
    runtime: VoiceRuntime,
    *,
    api_base_url: str | None = None,
    public_url: str | None = None,
    numbers: InMemoryNumberDirectory | None = None,
    now: Callable[[], datetime] = utcnow,
    **settings: object,
) -> FastAPI:
    """The telephony router on a bare app (the full app mounts the same router)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.aclose()

    app = FastAPI(lifespan=lifespan)
    app.state.voice = runtime
    app.state.telephony = TwilioTelephony(
        twilio_settings(api_base_url, **settings),
        public_url=public_url,
        secret_key=SECRET,
        directory=numbers or directory(),
        now=now,
    )
    app.include_router(router)
    return app


@asynccontextmanager
async def live_server(
    app: FastAPI, *, ws: type[asyncio.Protocol] | str = MediaWebSocketProtocol
) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on an ephemeral port in this loop; yields the base URL.

    ``ws`` is uvicorn's WebSocket stack: ``cap serve``'s by default; a name such
    as ``"websockets-sansio"`` serves the media socket through the ASGI path.
    """
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", ws=ws, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5.0)


@dataclass(frozen=True)
class StreamInstructions:
    url: str
    parameters: dict[str, str]


def call_params(
    call_sid: str, *, to: str = AGENT_NUMBER, from_: str = CALLER, direction: str = "inbound"
) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "From": from_,
        "To": to,
        "CallStatus": "ringing",
        "Direction": direction,
        "ApiVersion": "2010-04-01",
    }


async def twilio_post(
    http: httpx.AsyncClient, url: str, params: Mapping[str, str], *, token: str = AUTH_TOKEN
) -> httpx.Response:
    """POST a webhook as Twilio does: form body, ``X-Twilio-Signature`` over URL + params."""
    signature = SignatureChecker(token).sign(url, params)
    return await http.post(url, data=dict(params), headers={"X-Twilio-Signature": signature})


def parse_stream(twiml: str) -> StreamInstructions:
    root = ET.fromstring(twiml)
    stream = root.find("./Connect/Stream")
    assert stream is not None, twiml
    params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
    return StreamInstructions(stream.attrib["url"], params)


def sign_upgrade(url: str) -> str:
    return SignatureChecker(AUTH_TOKEN).sign(url, {})
