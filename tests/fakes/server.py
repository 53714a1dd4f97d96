"""The shared skeleton of every fake provider server.

A fake is an aiohttp application on 127.0.0.1 with an ephemeral port. Each
provider module adds its routes; this module owns the fault knobs, request
recording, auth checks and the helpers that inject faults (latency before the
first byte, pacing between chunks, dropping the connection, hanging).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

# A recognisable fake key: tests assert it never shows up in logs, reprs or errors.
TEST_API_KEY = "sk-test-4f1c9b7e2d"


@dataclass
class FaultKnobs:
    """What the fake does wrong. Mutable on purpose: a test flips knobs between calls."""

    # Seconds before the first byte (HTTP headers, or the first WebSocket message).
    latency: float = 0.0
    # Seconds between streamed chunks, tokens or transcript messages.
    token_interval: float = 0.0
    # Reply with this HTTP status and the provider's documented error body.
    error_status: int | None = None
    # Send this many chunks/tokens/messages, then drop the TCP connection.
    disconnect_after: int | None = None
    # Accept the connection and never answer (no headers, no handshake).
    hang: bool = False


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None
    # WebSocket sessions: JSON control messages received, and audio bytes received.
    messages: list[dict[str, Any]] = field(default_factory=list)
    audio_bytes: int = 0
    # perf_counter() when the handler got the request and when it wrote the
    # first useful byte: benchmarks subtract the server's own time with these.
    received_at: float = 0.0
    first_byte_at: float | None = None
    # WebSocket sessions: (what, perf_counter()) for control messages in and results out.
    marks: list[tuple[str, float]] = field(default_factory=list)

    def mark_first_byte(self) -> None:
        if self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()


class FakeServer:
    """Base class: start/stop, knobs, recorded requests. Subclasses add ``routes``."""

    name = "fake"

    def __init__(self, *, api_key: str = TEST_API_KEY, knobs: FaultKnobs | None = None) -> None:
        self.api_key = api_key
        self.knobs = knobs or FaultKnobs()
        self.requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._closing = asyncio.Event()

    # ------------------------------------------------------------ lifecycle

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        app.add_routes(self.routes())
        app.add_routes(
            [web.post("/_fake/knobs", self._set_knobs), web.get("/_fake/last", self._last)]
        )
        # handler_cancellation: a client that drops the connection cancels its handler,
        # so a hanging handler never outlives the test.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.2
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}"

    # ------------------------------------------------------------ control (out of process use)

    async def _set_knobs(self, request: web.Request) -> web.Response:
        """Benchmarks run fakes in another process and steer them here."""
        knobs = await request.json()
        self.knobs = FaultKnobs(**knobs)
        return web.json_response({"ok": True})

    async def _last(self, request: web.Request) -> web.Response:
        """Timestamps of the latest request to ``?path=`` (perf_counter is system-wide)."""
        path = request.query.get("path")
        for rec in reversed(self.requests):
            if path is None or rec.path == path:
                return web.json_response(
                    {
                        "received_at": rec.received_at,
                        "first_byte_at": rec.first_byte_at,
                        "marks": rec.marks,
                    }
                )
        return web.json_response({}, status=404)

    # ------------------------------------------------------------ helpers for routes

    async def record(self, request: web.Request, body: Any = None) -> RecordedRequest:
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
            received_at=time.perf_counter(),
        )
        self.requests.append(rec)
        return rec

    async def before_first_byte(self) -> None:
        """Apply ``hang`` and ``latency``; called before any status line is sent."""
        if self.knobs.hang:
            await self._closing.wait()
            raise web.HTTPServiceUnavailable()
        if self.knobs.latency > 0:
            await asyncio.sleep(self.knobs.latency)

    async def pace(self, sent: int, request: web.Request) -> None:
        """Called before chunk number ``sent`` (0-based): interval and disconnect knobs."""
        if self.knobs.disconnect_after is not None and sent >= self.knobs.disconnect_after:
            drop_connection(request)
            raise ConnectionDropped()
        if sent > 0 and self.knobs.token_interval > 0:
            await asyncio.sleep(self.knobs.token_interval)


class ConnectionDropped(Exception):
    """Raised inside a handler after the fake dropped the TCP connection on purpose."""


def drop_connection(request: web.Request) -> None:
    """Close the socket without ending the HTTP body or sending a WebSocket close frame."""
    transport = request.transport
    if transport is not None:
        with contextlib.suppress(Exception):
            transport.abort()
