"""Simulated Twilio: N calls over real WebSockets, on its own pinned CPU.

    python -m benchmarks.twilio.peers CALLS PORT CPU SECS WARMUP

Each call opens ``/media`` with a valid ``X-Twilio-Signature``, sends
``connected`` and ``start``, then 20 ms base64 mu-law ``media`` frames in real
time (espeak-ng speech, then silence, in a cycle). What comes back is played
at real-time rate: ``media`` fills a playback buffer, a ``mark`` is echoed
once the audio before it has played, ``clear`` drops the buffer and echoes
every pending mark at once, as Twilio does.

A reply's start (``reply_starts``, what the added latency ends on) is when
its first ``media`` message was read here, not when it would play: the 20 ms
playback tick paces only the mark echoes (the server's view of what the
caller has heard), never the latency figure.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import sys
import time
from collections import deque

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from benchmarks.twilio.common import (
    ACCOUNT_SID,
    AGENT,
    CONTROL_PATH,
    CYCLE_SECS,
    FRAME,
    MEDIA_PATH,
    RESULT,
    SLOTS,
    Json,
    pin,
    twilio_signature,
)


def speech_frames() -> tuple[list[str], str]:
    """Base64 mu-law 20 ms frames of one utterance, and one of silence."""
    from media.codecs.g711 import ulaw_encode
    from tests.support.speech import speak

    pcm = speak("What time is it, please?", 8000)
    frames = [pcm[i : i + 320].ljust(320, b"\0") for i in range(0, len(pcm), 320)]
    speech = [base64.b64encode(ulaw_encode(f)).decode() for f in frames]
    return speech, base64.b64encode(ulaw_encode(bytes(320))).decode()


class Caller:
    """Twilio's side of one call."""

    def __init__(self, index: int, phase: int, speech: tuple[list[str], str]) -> None:
        self.sid = f"MZ{index:032x}"
        self.call_sid = f"CA{index:032x}"
        self.speech, self.silent = speech
        self.cycle = round(CYCLE_SECS / FRAME)
        self.tick = phase
        self.sent = 0
        self.buffered = 0  # mu-law bytes queued for playback
        self.received = 0
        self.played = 0
        self.marks: deque[tuple[int, str]] = deque()
        self.cleared_marks: list[str] = []
        self.last_media = 0.0
        self.reply_starts: list[float] = []
        self.ws: ClientConnection | None = None
        self.closed = False

    def start_messages(self) -> list[str]:
        start = {
            "event": "start", "sequenceNumber": "1", "streamSid": self.sid,
            "start": {"accountSid": ACCOUNT_SID, "callSid": self.call_sid,
                      "streamSid": self.sid, "tracks": ["inbound"],
                      "customParameters": {"agent": AGENT},
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                      "channels": 1}},
        }  # fmt: skip
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        return [json.dumps(connected), json.dumps(start)]

    def inbound(self) -> str:
        position = self.tick % self.cycle
        self.tick += 1
        self.sent += 1
        payload = self.speech[position] if position < len(self.speech) else self.silent
        return (
            f'{{"event":"media","sequenceNumber":"{self.sent + 1}","media":{{"track":"inbound",'
            f'"chunk":"{self.sent}","timestamp":"{self.sent * 20}","payload":"{payload}"}},'
            f'"streamSid":"{self.sid}"}}'
        )

    def on_message(self, text: str) -> None:
        message = json.loads(text)  # any spacing: pipecat's serializer uses json.dumps
        event = message.get("event")
        if event == "media":
            payload = message["media"]["payload"]
            size = len(payload) // 4 * 3 - payload.count("=")
            self.buffered += size
            self.received += size
            now = time.monotonic()
            if now - self.last_media > 0.1:
                self.reply_starts.append(now)
            self.last_media = now
        elif event == "mark":
            self.marks.append((self.received, message["mark"]["name"]))
        elif event == "clear":
            self.buffered = 0
            self.received = self.played
            self.cleared_marks += [name for _, name in self.marks]
            self.marks.clear()

    def playback(self) -> list[str]:
        """One 20 ms playback tick; returns the mark echoes now due."""
        take = min(160, self.buffered)
        self.buffered -= take
        self.played += take
        due, self.cleared_marks = self.cleared_marks, []
        while self.marks and self.marks[0][0] <= self.played:
            due.append(self.marks.popleft()[1])
        return [
            f'{{"event":"mark","sequenceNumber":"0","streamSid":"{self.sid}",'
            f'"mark":{{"name":"{name}"}}}}'
            for name in due
        ]

    async def read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(ConnectionClosed):
            async for text in self.ws:
                if isinstance(text, str):
                    self.on_message(text)
        self.closed = True


async def run(calls: int, port: int, secs: float, warmup: float) -> Json:
    url = f"ws://127.0.0.1:{port}{MEDIA_PATH}"
    headers = {"X-Twilio-Signature": twilio_signature(url)}
    speech = speech_frames()
    rng = random.Random(7)
    callers = [Caller(i, rng.randrange(round(CYCLE_SECS / FRAME)), speech) for i in range(calls)]
    readers: list[asyncio.Task[None]] = []
    for caller in callers:
        # Twilio offers no permessage-deflate; neither do we, so none is negotiated.
        # Twilio sends no pings: an overloaded server must show up as late
        # frames, not as calls the load generator dropped.
        caller.ws = await connect(
            url, additional_headers=headers, max_size=2**20, compression=None,
            ping_interval=None, open_timeout=60,
        )  # fmt: skip
        for text in caller.start_messages():
            await caller.ws.send(text)
        readers.append(asyncio.create_task(caller.read()))
    control = await connect(f"ws://127.0.0.1:{port}{CONTROL_PATH}", ping_interval=None)
    begin = time.monotonic() + 0.2
    start = begin + warmup
    end = start + secs
    await control.send(json.dumps({"start": start, "end": end}))

    late: list[float] = []
    # Calls are spread over SLOTS phases of the 20 ms period, as independent
    # calls' packets arrive; each call still gets one frame every 20 ms.
    groups = [callers[slot::SLOTS] for slot in range(SLOTS)]
    deadline, slot = begin, 0
    while deadline < end:
        deadline += FRAME / SLOTS
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        now = time.monotonic()
        if now >= start:
            late.append(now - deadline)
        group, slot = groups[slot], (slot + 1) % SLOTS
        for caller in group:
            if caller.closed or caller.ws is None:
                continue
            await caller.ws.send(caller.inbound())
            for echo in caller.playback():
                await caller.ws.send(echo)
    replies = {c.sid: c.reply_starts for c in callers}
    await control.send(json.dumps({"start": start, "end": end, "reply_starts": replies}))
    server = json.loads(await control.recv())
    await control.close()
    closed_early = sum(1 for c in callers if c.closed)
    for caller in callers:
        if caller.ws is not None and not caller.closed:
            await caller.ws.send(json.dumps({"event": "stop", "streamSid": caller.sid}))
            await caller.ws.close()
    await asyncio.gather(*readers, return_exceptions=True)
    return {
        **server,
        # The sender's own lateness: a late driver is not the server's fault.
        "driver_late_ticks": sum(1 for x in late if x > FRAME),
        "driver_max_lateness_ms": round(max(late, default=0.0) * 1000, 1),
        "closed_early": closed_early,
        "agent_audio_bytes": sum(c.received for c in callers),
    }


def main(argv: list[str]) -> None:
    calls, port, cpu, secs, warmup = (
        int(argv[0]), int(argv[1]), int(argv[2]), float(argv[3]), float(argv[4])
    )  # fmt: skip
    pin(cpu)
    import uvloop

    result = uvloop.run(run(calls, port, secs, warmup))
    print(RESULT + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
