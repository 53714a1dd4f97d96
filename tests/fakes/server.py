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
    # perf_counter() when the handler had read the whole request and when it
    # wrote the first useful byte: benchmarks subtract the server's own time
    # (its ``hold``) from a client's time to first byte with these.
    received_at: float = 0.0
    first_byte_at: float | None = None
    # WebSocket sessions: (what, perf_counter()) for control messages in and results out.
    marks: list[tuple[str, float]] = field(default_factory=list)

    def mark_first_byte(self) -> None:
        if self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()

    def hold(self) -> float | None:
        """Seconds the fake held the answer: input fully read -> first useful byte written.

        Plain HTTP: request read -> first body byte. A socket with text marks
        (TTS sockets): the first text in -> first audio out, not the handshake.
        A listen socket: the last ``Finalize`` in -> its ``from_finalize`` result out.
        """
        out = _last_mark(self.marks, "out:from_finalize")
        if out is not None:
            started = _last_mark(self.marks, "in:Finalize", before=out)
            return None if started is None else out - started
        if self.first_byte_at is None:
            return None
        text_in = next((t for what, t in self.marks if what in TEXT_MARKS), None)
        return self.first_byte_at - (self.received_at if text_in is None else text_in)

    def timings(self) -> dict[str, Any]:
        return {
            "received_at": self.received_at,
            "first_byte_at": self.first_byte_at,
            "hold": self.hold(),
            "marks": self.marks,
        }


TEXT_MARKS = ("in:text", "in:Speak")


def _last_mark(
    marks: list[tuple[str, float]], what: str, before: float | None = None
) -> float | None:
    for name, at in reversed(marks):
        if name == what and (before is None or at <= before):
            return at
    return None


# The last stretch of a fixed latency is waited out by yielding to the loop
# instead of a timer: asyncio/uvloop timers fire up to ~1-2 ms late
# (millisecond granularity), which a benchmark would count as client time.
TIMER_SLACK = 0.002


async def wait_until(deadline: float) -> None:
    """Sleep until ``perf_counter() >= deadline``, within tens of microseconds.

    A timer to ``TIMER_SLACK`` before the deadline, then ``sleep(0)`` turns:
    other tasks keep running, and the loop polls for at most ~2 ms.
    """
    remaining = deadline - time.perf_counter()
    if remaining > TIMER_SLACK:
        await asyncio.sleep(remaining - TIMER_SLACK)
    while time.perf_counter() < deadline:  # noqa: ASYNC110 (a clock, not an event)
        await asyncio.sleep(0)


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
            [
                web.post("/_fake/knobs", self._set_knobs),
                web.get("/_fake/last", self._last),
                web.get("/_fake/timings", self._timings),
            ]
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
        """Timestamps and hold time of the latest request to ``?path=``.

        ``perf_counter`` is system-wide on Linux, so a client in another process
        can subtract them from its own clock readings.
        """
        path = request.query.get("path")
        for rec in reversed(self.requests):
            if path is None or rec.path == path:
                return web.json_response(rec.timings())
        return web.json_response({}, status=404)

    async def _timings(self, request: web.Request) -> web.Response:
        """Timings of the last ``?n=`` requests to ``?path=``, oldest first.

        ``?clear=1`` then forgets every recorded request, so a long benchmark
        does not keep them all.
        """
        path = request.query.get("path")
        try:
            n = max(0, int(request.query.get("n", "1")))
        except ValueError:
            return web.json_response({"error": "n must be an integer"}, status=400)
        matching = [r for r in self.requests if path is None or r.path == path]
        body = [r.timings() for r in matching[len(matching) - n :]] if n else []
        if request.query.get("clear") == "1":
            self.requests.clear()
        return web.json_response(body)

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

    async def before_first_byte(self, rec: RecordedRequest | None = None) -> None:
        """Apply ``hang`` and ``latency``; called before any status line is sent.

        With ``rec`` the latency runs from when the request was fully read, to
        the microsecond (``wait_until``), not from whenever this is called.
        """
        if self.knobs.hang:
            await self._closing.wait()
            raise web.HTTPServiceUnavailable()
        if self.knobs.latency > 0:
            start = rec.received_at if rec is not None else time.perf_counter()
            await wait_until(start + self.knobs.latency)

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
