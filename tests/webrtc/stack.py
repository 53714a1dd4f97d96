"""A WebRTC-capable app on fake providers, in process or on a real port.

In process: the app is called through httpx's ASGI transport, and the aiortc
peers of client and server share the test's event loop, so a test can count
tasks and file descriptors exactly. On a port: uvicorn in a background thread,
for browsers and the WebSocket SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from control_plane.settings import Settings
from control_plane.voice.routes import router as voice_router
from control_plane.voice.runtime import VoiceRuntime
from control_plane.webrtc.admission import LocalWidgetAdmitter
from control_plane.webrtc.gateway import WebRtcGateway
from control_plane.webrtc.keys import SettingsWidgetKeys
from control_plane.webrtc.peer import PeerLimits
from control_plane.webrtc.routes import router as webrtc_router
from control_plane.widget.routes import router as widget_router
from pipelines.agent import AgentSpec, ProviderSpec
from pipelines.providers.base import ChatMessage
from pipelines.providers.fake import (
    FakeLLM,
    FakeLLMKnobs,
    FakeSTT,
    FakeTTS,
    FakeTTSKnobs,
    Responder,
)
from pipelines.providers.registry import ProviderRegistry

SECRET = "test-secret"
BASE_URL = "http://cap.test"
STORY = " ".join(f"Part {i} of the story goes on for quite a long while." for i in range(12))


def story_or_echo(messages: Sequence[ChatMessage]) -> str:
    last = messages[-1].content.lower() if messages else ""
    return STORY if "story" in last else f"You said {last}."


def agent(agent_id: str = "default", *, stt: str = "fake", **kw: Any) -> AgentSpec:
    kw.setdefault("greeting", None)
    return AgentSpec(
        id=agent_id,
        stt=(ProviderSpec(stt),),
        llm=(ProviderSpec("fake"),),
        tts=(ProviderSpec("fake"),),
        **kw,
    )


def registry(
    stt_script: Sequence[str] = (), responder: Responder = story_or_echo
) -> ProviderRegistry:
    reg = ProviderRegistry()
    reg.register("stt", "fake", lambda: FakeSTT(list(stt_script)))
    reg.register(
        "llm",
        "fake",
        lambda: FakeLLM(responder, FakeLLMKnobs(first_token_latency=0.02, token_interval=0.002)),
    )
    reg.register("tts", "fake", lambda: FakeTTS(knobs=FakeTTSKnobs(first_audio_latency=0.02)))
    return reg


@dataclass
class Stack:
    app: FastAPI
    runtime: VoiceRuntime
    gateway: WebRtcGateway
    keys: SettingsWidgetKeys

    def key(self, agent_id: str = "default") -> str:
        return self.keys.key_for(agent_id)


def build_app(
    runtime: VoiceRuntime,
    *,
    limits: PeerLimits | None = None,
    explicit_keys: dict[str, list[str]] | None = None,
    max_peers: int | None = None,
) -> Stack:
    keys = SettingsWidgetKeys(SECRET, explicit_keys)
    gateway = WebRtcGateway(
        runtime, LocalWidgetAdmitter(keys, runtime), limits=limits, max_peers=max_peers
    )
    app = FastAPI()
    app.include_router(voice_router)
    app.include_router(webrtc_router)
    app.include_router(widget_router)
    app.state.settings = Settings(secret_key=SECRET)
    app.state.voice = runtime
    app.state.webrtc = gateway
    app.state.widget_keys = keys
    return Stack(app, runtime, gateway, keys)


@contextlib.asynccontextmanager
async def running(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """Start the runtime, yield an HTTP client bound to the app, tear down."""
    await stack.runtime.start()
    transport = httpx.ASGITransport(app=stack.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            yield http
    finally:
        await stack.gateway.aclose()
        await stack.runtime.aclose()


async def until(predicate: Any, *, within: float = 5.0, step: float = 0.01) -> None:
    """Wait for ``predicate()`` to hold (a bounded poll for server-side state)."""
    async with asyncio.timeout(within):
        # Server-side state has no event to wait on; a short poll is the honest way.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(step)


class LiveServer:
    """The app under uvicorn on an ephemeral port, in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            loop="asyncio",
            ws="websockets-sansio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)
        self.port = 0

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = 15.0
        waited = 0.0
        while not self.server.started:
            if not self.thread.is_alive() or waited > deadline:
                raise RuntimeError("uvicorn did not start")
            threading.Event().wait(0.02)
            waited += 0.02
        sockets = self.server.servers[0].sockets
        self.port = sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"


def live_app(runtime: VoiceRuntime, **kw: Any) -> Stack:
    """A stack whose runtime and gateway start and stop with uvicorn's lifespan."""
    stack = build_app(runtime, **kw)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await stack.gateway.aclose()
            await runtime.aclose()

    stack.app.router.lifespan_context = lifespan
    return stack


@contextlib.contextmanager
def serve(stack: Stack) -> Iterator[LiveServer]:
    with LiveServer(stack.app) as server:
        yield server
