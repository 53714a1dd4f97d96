"""Server CPU per received WebSocket message, by Python WebSocket stack.

    python -m benchmarks.twilio.ws_stacks [--calls 50] [--secs 5]

Twilio sends 50 text messages of ~300 characters per call per second. Each
stack's server runs pinned to CPU 1, reads and drops every message; a client
on CPU 0 sends them at Twilio's pace over ``--calls`` connections. The figure
is the server's ``process_time`` divided by the messages it read: what one
inbound media message costs before any application code runs.
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
from typing import Any

from benchmarks.twilio.common import FRAME, SLOTS, pin

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("uvicorn:websockets-sansio", "uvicorn:websockets", "websockets", "aiohttp")
MESSAGE = (
    '{"event":"media","sequenceNumber":"5","media":{"track":"inbound","chunk":"4",'
    '"timestamp":"80","payload":"' + "A" * 216 + '"},"streamSid":"MZ' + "0" * 32 + '"}'
)
Counter = dict[str, int]


def _report(counter: Counter) -> str:
    return json.dumps({"cpu": time.process_time(), "n": counter["n"]})


async def _uvicorn(sock: socket.socket, ws: str, counter: Counter) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    async def sink(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            counter["n"] += 1
            if message.get("text") == "cpu":
                await websocket.send_text(_report(counter))

    app = Starlette(routes=[WebSocketRoute("/", sink)])
    config = uvicorn.Config(app, loop="none", ws=ws, log_level="warning")
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
    }
    run = servers.get(stack) or (lambda: _uvicorn(sock, stack.split(":")[1], counter))
    print(sock.getsockname()[1], flush=True)
    uvloop.run(run())


async def drive(port: int, calls: int, secs: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/"
    conns = [await connect(url, compression=None, ping_interval=None) for _ in range(calls)]
    control = await connect(url, compression=None, ping_interval=None)

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
    for conn in [*conns, control]:
        await conn.close()
    messages = after["n"] - before["n"]
    return {"messages": messages, "us_per_message": (after["cpu"] - before["cpu"]) / messages * 1e6}


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

        return uvloop.run(drive(port, calls, secs))
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
        results[stack] = measure(stack, args.calls, args.secs)
        print(f"{stack:28s} {results[stack]['us_per_message']:6.1f} us CPU per message", flush=True)
    report = {
        "benchmark": "server CPU per received Twilio-sized WebSocket message",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average_at_end": os.getloadavg(),
        "calls": args.calls,
        "stacks": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
