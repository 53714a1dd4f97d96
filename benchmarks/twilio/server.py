"""CAP under test: the real Media Streams endpoint behind uvicorn, on one pinned CPU.

    python -m benchmarks.twilio.server CALLS CPU WS freeze|no-freeze

``WS`` is ``cap`` (``cap serve``'s stack: ``telephony.wire.MediaWebSocketProtocol``,
the media socket taken over after the handshake) or one of uvicorn's own names
(``websockets-sansio``: every message through the ASGI app).

Prints ``READY <port>`` once listening. The simulated Twilio (``peers``) opens
the calls, then tells this process the measurement window over ``/bench``;
after it, it sends the callers' first-audio times and gets this side's figures
back: CPU, outgoing-tick and incoming-message lateness, end-of-speech times.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

# At module level: FastAPI reads the handlers' (string) annotations from here.
from fastapi import FastAPI, WebSocket

from benchmarks.twilio.common import (
    ACCOUNT_SID,
    AGENT,
    AUTH_TOKEN,
    CONTROL_PATH,
    FRAME,
    LLM_FIRST,
    MEDIA_PATH,
    READY,
    REPLY,
    STT,
    TTS_FIRST,
    Json,
    cap_stage_gaps,
    cap_vad_stops,
    measure_window,
    pin,
    step_report,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ArrivalLog:
    """ASGI middleware: when each media message reached the app, per connection.

    A loaded server reads its sockets late; that delay is what this records.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.arrivals: list[list[float]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or scope["path"] != MEDIA_PATH:
            await self.app(scope, receive, send)
            return
        times: list[float] = []
        self.arrivals.append(times)
        clock = time.monotonic

        async def timed() -> Message:
            message = await receive()
            text = message.get("text")
            if text is not None and text.startswith('{"event":"media"'):
                times.append(clock())
            return message

        await self.app(scope, timed, send)


def timed_protocol(arrivals: list[list[float]]) -> type[asyncio.Protocol]:
    """``cap serve``'s WebSocket protocol, logging media arrivals as ``ArrivalLog`` does.

    A taken-over socket hands messages to its sink without the ASGI app, so the
    times are taken where the sink is called.
    """
    from telephony.wire import MediaWebSocketProtocol, WireSink

    class TimedSink:
        def __init__(self, sink: WireSink, times: list[float]) -> None:
            self.sink, self.times = sink, times
            self.on_binary, self.on_closed = sink.on_binary, sink.on_closed
            self.on_writable = sink.on_writable

        def on_text(self, text: str) -> None:
            if text.startswith('{"event":"media"'):
                self.times.append(time.monotonic())
            self.sink.on_text(text)

    class TimedProtocol(MediaWebSocketProtocol):
        def take_over(self, sink: WireSink) -> None:
            times: list[float] = []
            arrivals.append(times)
            super().take_over(TimedSink(sink, times))

    return TimedProtocol


class Bench:
    def __init__(self, calls: int, freeze: bool) -> None:
        from control_plane.voice.runtime import VoiceRuntime
        from pipelines.agent import AgentSpec, ProviderSpec
        from pipelines.providers.fake import (
            FakeLLM,
            FakeLLMKnobs,
            FakeSTT,
            FakeSTTKnobs,
            FakeTTS,
            FakeTTSKnobs,
        )
        from pipelines.providers.registry import ProviderRegistry
        from telephony.service import TwilioTelephony
        from telephony.settings import TwilioSettings

        registry = ProviderRegistry()
        registry.register("stt", "b", lambda: FakeSTT(knobs=FakeSTTKnobs(final_latency=STT)))
        registry.register(
            "llm",
            "b",
            lambda: FakeLLM(lambda _: REPLY, FakeLLMKnobs(LLM_FIRST, token_interval=0.01)),
        )
        registry.register(
            "tts", "b", lambda: FakeTTS(knobs=FakeTTSKnobs(first_audio_latency=TTS_FIRST))
        )
        spec = AgentSpec(
            id=AGENT, greeting=None, stt=(ProviderSpec("b"),), llm=(ProviderSpec("b"),),
            tts=(ProviderSpec("b"),), vad="webrtc",
        )  # fmt: skip
        self.runtime = VoiceRuntime(registry, {AGENT: spec}, max_sessions=calls + 1)
        settings = TwilioSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
        self.telephony = TwilioTelephony(settings, public_url=None, secret_key="b" * 32)
        self.freeze = freeze
        self.out_late: list[float] = []
        self.window: Json = {}
        self.log: ArrivalLog | None = None

    def app(self) -> ArrivalLog:

        from telephony.socket import serve_media_stream

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> Any:
            await self.runtime.start()
            yield
            await self.runtime.aclose()

        api = FastAPI(lifespan=lifespan)

        @api.websocket(MEDIA_PATH)
        async def media(ws: WebSocket) -> None:
            await serve_media_stream(ws, self.telephony, self.runtime)

        @api.websocket(CONTROL_PATH)
        async def control(ws: WebSocket) -> None:
            await ws.accept()
            order = await ws.receive_json()
            measured = asyncio.create_task(self.measure(order["start"], order["end"]))
            done = await ws.receive_json()
            await measured
            await ws.send_json(self.report(done["start"], done["end"], done["reply_starts"]))
            await ws.close()

        self.log = ArrivalLog(api)
        return self.log

    async def measure(self, start: float, end: float) -> None:
        """CPU and tick lateness over [start, end) on the monotonic clock."""
        loop = asyncio.get_running_loop()
        clock = self.runtime.clock
        clock.register(lambda when: self.out_late.append(loop.time() - when))
        if self.freeze:
            # As ``cap serve`` does after start-up (the calls are open too); the
            # full pass stalls the loop, so it happens before the window opens.
            gc.collect()
            gc.freeze()
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        self.out_late.clear()
        skipped0 = clock.skipped_ticks
        window = await measure_window(time.monotonic(), end, freeze=False)
        self.window = {
            **window,
            "late_out_ticks": sum(1 for x in self.out_late if x > FRAME),
            "max_out_lateness_ms": round(max(self.out_late, default=0.0) * 1000, 1),
            "skipped_ticks": clock.skipped_ticks - skipped0,
        }

    def report(self, start: float, end: float, reply_starts: dict[str, list[float]]) -> Json:
        assert self.log is not None
        report = step_report(
            self.window,
            self.log.arrivals,
            start,
            end,
            streams=len(self.telephony.streams),
            gc_frozen=self.freeze,
            stops=cap_vad_stops(self.runtime.recent_turns),
            reply_starts=reply_starts,
            bad_messages=sum(sum(s.bad_messages.values()) for s in self.telephony.streams.values()),
        )
        # Where the added latency goes, stage by stage (each minus its fake's nominal time).
        report["stages_ms"] = cap_stage_gaps(self.runtime.recent_turns, reply_starts, start, end)
        return report


def main(argv: list[str]) -> None:
    calls, cpu, ws, freeze = int(argv[0]), int(argv[1]), argv[2], argv[3] == "freeze"
    pin(cpu)
    import uvicorn

    bench = Bench(calls, freeze)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # connections wait in the backlog until the server is up
    app = bench.app()
    protocol = timed_protocol(app.arrivals) if ws == "cap" else ws
    config = uvicorn.Config(
        app,
        loop="uvloop",
        ws=protocol,
        ws_max_size=1024 * 1024,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    print(READY + str(sock.getsockname()[1]), flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
