"""Server CPU per WebSocket message, by Python WebSocket stack, both directions.

    python -m benchmarks.twilio.ws_stacks [--calls 50] [--secs 5]

Twilio sends 50 text messages of ~300 characters per call per second. Each
stack's server runs pinned to CPU 1, reads and drops every message; a client
on CPU 0 sends them at Twilio's pace over ``--calls`` connections. The figure
is the server's ``process_time`` divided by the messages it read: what one
inbound media message costs before any application code runs.

``floor`` is no stack: an ``asyncio.Protocol`` that does the handshake with
websockets' ``ServerProtocol``, then only counts the bytes it receives (the
event loop, the socket reads and the kernel: what no stack can go below).
``cap`` is ``cap serve``'s stack (``telephony.wire.MediaWebSocketProtocol``):
uvicorn's sans-I/O protocol with the socket taken over after the handshake,
messages handed to a sink from ``data_received``.

Sending (uvicorn stacks and ``cap``): the server queues, every 20 ms, one
media message per connection and a mark every 5th frame, through the outbox
the media endpoint uses on that stack (``SocketOutbox``: a sender task per
connection and the ASGI ``send``; ``WireOutbox``: straight to the transport);
the client reads them. The figure is the server's CPU per message sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, cast

from benchmarks.twilio.common import FRAME, SLOTS, pin

ROOT = Path(__file__).resolve().parents[2]
STACKS = (
    "floor",
    "cap",
    "uvicorn:websockets-sansio",
    "uvicorn:websockets",
    "websockets",
    "aiohttp",
)
SENDING = ("cap", "uvicorn:websockets-sansio")
MESSAGE = (
    '{"event":"media","sequenceNumber":"5","media":{"track":"inbound","chunk":"4",'
    '"timestamp":"80","payload":"' + "A" * 216 + '"},"streamSid":"MZ' + "0" * 32 + '"}'
)
OUT_MEDIA = MESSAGE.replace('"track":"inbound",', "")
OUT_MARK = '{"event":"mark","streamSid":"MZ' + "0" * 32 + '","mark":{"name":"m-12"}}'
MARK_EVERY = 5
Counter = dict[str, int]


class Outbox(Protocol):
    def send(self, text: str, *, audio: bool = False) -> None: ...


def _report(counter: Counter) -> str:
    return json.dumps({"cpu": time.process_time(), "n": counter["n"]})


async def _blast(outboxes: list[Outbox], secs: float) -> str:
    """Tick every 20 ms as the playout clock does: a frame per connection, marks."""
    cpu0, sent, tick = time.process_time(), 0, 0
    deadline = time.monotonic()
    end = deadline + secs
    while deadline < end:
        deadline += FRAME
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        tick += 1
        for outbox in outboxes:
            outbox.send(OUT_MEDIA, audio=True)
            sent += 1
            if tick % MARK_EVERY == 0:
                outbox.send(OUT_MARK, audio=True)
                sent += 1
    await asyncio.sleep(0.5)  # the sender tasks drain
    return json.dumps({"cpu": time.process_time() - cpu0, "sent": sent})


async def _uvicorn(sock: socket.socket, ws: str, counter: Counter) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    from telephony.socket import SocketOutbox
    from telephony.wire import MediaWebSocketProtocol, wire_socket
    from telephony.wire_stream import WireOutbox

    outboxes: list[Outbox] = []

    async def control(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text") or ""
            if text == "cpu":
                await websocket.send_text(_report(counter))
            elif text.startswith("send:"):
                await websocket.send_text(await _blast(outboxes, float(text[5:])))

    async def asgi_sink(websocket: WebSocket) -> None:
        await websocket.accept()
        outbox = SocketOutbox()
        outboxes.append(outbox)
        sender = asyncio.create_task(outbox.run(websocket))
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                sender.cancel()
                return
            counter["n"] += 1

    class CountingSink:
        def __init__(self, outbox: WireOutbox) -> None:
            self.outbox = outbox
            self.closed = asyncio.Event()

        def on_text(self, text: str) -> None:
            counter["n"] += 1

        def on_binary(self, data: bytes) -> None:
            counter["n"] += 1

        def on_closed(self, code: int) -> None:
            self.closed.set()

        def on_writable(self) -> None:
            self.outbox.flush()

    async def wire_sink(websocket: WebSocket) -> None:
        await websocket.accept()
        wire = wire_socket(websocket.scope)
        assert wire is not None
        outbox = WireOutbox(wire)
        outboxes.append(outbox)
        sink = CountingSink(outbox)
        wire.take_over(sink)
        await sink.closed.wait()

    cap = ws == "cap"
    routes = [WebSocketRoute("/", wire_sink if cap else asgi_sink), WebSocketRoute("/ctl", control)]
    protocol: type[asyncio.Protocol] | str = MediaWebSocketProtocol if cap else ws
    config = uvicorn.Config(Starlette(routes=routes), loop="none", ws=protocol, log_level="warning")
    await uvicorn.Server(config).serve(sockets=[sock])


async def _websockets(sock: socket.socket, counter: Counter) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def sink(websocket: ServerConnection) -> None:
        async for message in websocket:
            counter["n"] += 1
            if message == "cpu":
                await websocket.send(_report(counter))

    async with serve(sink, sock=sock, compression=None, ping_interval=None):
        await asyncio.Future()


async def _aiohttp(sock: socket.socket, counter: Counter) -> None:
    from aiohttp import web

    async def sink(request: web.Request) -> web.WebSocketResponse:
        websocket = web.WebSocketResponse(compress=False, autoping=False)
        await websocket.prepare(request)
        async for message in websocket:
            counter["n"] += 1
            if message.data == "cpu":
                await websocket.send_str(_report(counter))
        return websocket

    app = web.Application()
    app.router.add_get("/", sink)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    await asyncio.Future()


async def _floor(sock: socket.socket, counter: Counter) -> None:
    from websockets.frames import Frame
    from websockets.http11 import Request
    from websockets.server import ServerProtocol

    frame_bytes = 2 + 2 + 4 + len(MESSAGE)  # a masked client frame with a 16-bit length
    received = [0]

    class Floor(asyncio.Protocol):
        def __init__(self) -> None:
            self.conn = ServerProtocol(max_size=None)
            self.transport: asyncio.Transport | None = None
            self.counting = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.Transport, transport)

        def data_received(self, data: bytes) -> None:
            if self.counting:
                received[0] += len(data)
                return
            assert self.transport is not None
            self.conn.receive_data(data)
            for event in self.conn.events_received():
                if isinstance(event, Request):
                    self.conn.send_response(self.conn.accept(event))
                    self.counting = event.path == "/"  # the control socket keeps parsing
                elif isinstance(event, Frame) and event.data == b"cpu":
                    counter["n"] = received[0] // frame_bytes
                    self.conn.send_text(_report(counter).encode())
            self.transport.write(b"".join(self.conn.data_to_send()))

    server = await asyncio.get_running_loop().create_server(Floor, sock=sock)
    await server.serve_forever()


def serve(stack: str, cpu: int) -> None:
    pin(cpu)
    import uvloop

    counter: Counter = {"n": 0}
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # connections wait in the backlog until the server is up
    servers: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
        "websockets": lambda: _websockets(sock, counter),
        "aiohttp": lambda: _aiohttp(sock, counter),
        "floor": lambda: _floor(sock, counter),
    }
    run = servers.get(stack) or (lambda: _uvicorn(sock, stack.rsplit(":", maxsplit=1)[-1], counter))
    print(sock.getsockname()[1], flush=True)
    uvloop.run(run())


async def drive(port: int, calls: int, secs: float, uvicorn: bool, sending: bool) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/"
    options: dict[str, Any] = {"compression": None, "ping_interval": None, "close_timeout": 1}
    conns = [await connect(url, **options) for _ in range(calls)]
    control = await connect(url + ("ctl" if uvicorn else ""), **options)

    async def cpu() -> dict[str, float]:
        await control.send("cpu")
        return dict(json.loads(await control.recv()))

    before = await cpu()
    groups = [conns[slot::SLOTS] for slot in range(SLOTS)]
    deadline = time.monotonic()
    end = deadline + secs
    while deadline < end:
        for group in groups:
            deadline += FRAME / SLOTS
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            for conn in group:
                await conn.send(MESSAGE)
    await asyncio.sleep(0.5)
    after = await cpu()
    messages = after["n"] - before["n"]
    result = {
        "messages": messages,
        "us_per_message": (after["cpu"] - before["cpu"]) / messages * 1e6,
    }
    if sending:
        received = [0]

        async def read(conn: Any) -> None:
            async for _ in conn:
                received[0] += 1

        readers = [asyncio.create_task(read(conn)) for conn in conns]
        await control.send(f"send:{secs}")
        sent = json.loads(await control.recv())
        result["sent"] = sent["sent"]
        result["us_per_sent_message"] = sent["cpu"] / sent["sent"] * 1e6
        await asyncio.sleep(0.2)
        result["client_received"] = received[0]
        for reader in readers:
            reader.cancel()
    # At once: the floor never answers a close frame (each waits for close_timeout).
    await asyncio.gather(*(conn.close() for conn in [*conns, control]))
    return result


def measure(stack: str, calls: int, secs: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.twilio.ws_stacks", "--serve", stack],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        pin(0)
        import uvloop

        uvicorn = stack not in ("websockets", "aiohttp")  # the control socket on /ctl
        return uvloop.run(drive(port, calls, secs, uvicorn, stack in SENDING))
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--secs", type=float, default=5.0)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/twilio_ws.json")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, 1)
        return
    results: dict[str, Any] = {}
    for stack in STACKS:
        result = results[stack] = measure(stack, args.calls, args.secs)
        line = f"{stack:28s} {result['us_per_message']:6.1f} us CPU per received message"
        if "us_per_sent_message" in result:
            line += f", {result['us_per_sent_message']:6.1f} us per sent message"
        print(line, flush=True)
    report = {
        "benchmark": "server CPU per received (and sent) Twilio-sized WebSocket message",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average_at_end": os.getloadavg(),
        "calls": args.calls,
        "stacks": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
