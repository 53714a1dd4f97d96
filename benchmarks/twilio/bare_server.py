"""The floor: the same uvicorn + Starlette WebSocket stack, reading and dropping every message.

    python -m benchmarks.twilio.bare_server CALLS CPU WS freeze|no-freeze

Driven by the same simulated Twilio as ``server``; no audio goes back. Its CPU
per call-second is what receiving Twilio's 50 messages a second costs before
any of CAP's code runs.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import socket
import sys
import time

# At module level: FastAPI reads the handlers' (string) annotations from here.
from fastapi import FastAPI, WebSocket

from benchmarks.twilio.common import (
    CONTROL_PATH,
    FRAME,
    MEDIA_PATH,
    READY,
    Json,
    lateness_in,
    pin,
    runqueue_wait,
)
from benchmarks.twilio.server import ArrivalLog


def build(calls: int, freeze: bool) -> ArrivalLog:
    api = FastAPI()
    log = ArrivalLog(api)
    window: Json = {}

    @api.websocket(MEDIA_PATH)
    async def media(ws: WebSocket) -> None:
        await ws.accept()
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass

    async def measure(start: float, end: float) -> None:
        if freeze:
            gc.collect()
            gc.freeze()
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        cpu0, wait0 = time.process_time(), runqueue_wait()
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        window["cpu_secs"] = time.process_time() - cpu0
        window["runqueue_wait_ms"] = round((runqueue_wait() - wait0) * 1000, 1)

    @api.websocket(CONTROL_PATH)
    async def control(ws: WebSocket) -> None:
        await ws.accept()
        order = await ws.receive_json()
        measured = asyncio.create_task(measure(order["start"], order["end"]))
        done = await ws.receive_json()
        await measured
        late_in = [x for t in log.arrivals for x in lateness_in(t, done["start"], done["end"])]
        await ws.send_json({
            **window,
            "late_out_ticks": 0, "skipped_ticks": 0, "max_out_lateness_ms": None,
            "late_in_messages": sum(1 for x in late_in if x > FRAME),
            "max_in_lateness_ms": round(max(late_in, default=0.0) * 1000, 1),
            "turns": 0, "vad_stops": 0, "p50_added_ms": None, "p95_added_ms": None,
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "bad_messages": 0, "streams": calls, "gc_frozen": freeze,
        })  # fmt: skip
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
