"""The floor: the same uvicorn + Starlette WebSocket stack, reading and dropping every message.

    python -m benchmarks.twilio.bare_server CALLS CPU WS freeze|no-freeze

Driven by the same simulated Twilio as ``server``; no audio goes back. Its CPU
per call-second is what receiving Twilio's 50 messages a second costs before
any of CAP's code runs.
"""

from __future__ import annotations

import asyncio
import socket
import sys

# At module level: FastAPI reads the handlers' (string) annotations from here.
from fastapi import FastAPI, WebSocket

from benchmarks.twilio.common import (
    CONTROL_PATH,
    MEDIA_PATH,
    READY,
    measure_window,
    pin,
    step_report,
)
from benchmarks.twilio.server import ArrivalLog


def build(calls: int, freeze: bool) -> ArrivalLog:
    api = FastAPI()
    log = ArrivalLog(api)

    @api.websocket(MEDIA_PATH)
    async def media(ws: WebSocket) -> None:
        await ws.accept()
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass

    @api.websocket(CONTROL_PATH)
    async def control(ws: WebSocket) -> None:
        await ws.accept()
        order = await ws.receive_json()
        measured = asyncio.create_task(measure_window(order["start"], order["end"], freeze))
        done = await ws.receive_json()
        window = await measured
        report = step_report(
            window, log.arrivals, done["start"], done["end"], streams=calls, gc_frozen=freeze
        )
        await ws.send_json(report)
        await ws.close()

    return log


def main(argv: list[str]) -> None:
    calls, cpu, ws, freeze = int(argv[0]), int(argv[1]), argv[2], argv[3] == "freeze"
    pin(cpu)
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # connections wait in the backlog until the server is up
    config = uvicorn.Config(build(calls, freeze), loop="uvloop", ws=ws, log_level="warning")
    print(READY + str(sock.getsockname()[1]), flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
