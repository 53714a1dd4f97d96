"""CPU per inbound Twilio media message inside CAP, without a socket.

    python -m benchmarks.twilio.edge_cpu [--messages 10000] [--rounds 5]

One ``TwilioMediaStream`` with a real voice session (webrtcvad, the turn
engine, fake providers) receives the same JSON text a socket would hand it:
validation, base64, mu-law decode, webrtcvad on the line's 8 kHz samples and
the session's pre-roll. Two callers: quiet line noise (no turn starts: nothing
is resampled) and a voiced signal the VAD takes for speech (every frame also
resampled to 16 kHz for STT, the cost while the caller talks).
Alongside, the outbound conversion of one 20 ms agent frame (16 -> 8 kHz,
mu-law, base64, template JSON). Each figure is the best of ``--rounds`` rounds
of ``time.process_time``: on a shared machine the minimum is the least
disturbed one. The WebSocket stack's own cost per message is apart
(``benchmarks.twilio.ws_stacks``).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import binascii
import json
import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.twilio.common import ACCOUNT_SID, AGENT

ROOT = Path(__file__).resolve().parents[2]
CALL = "CA" + "1" * 32
STREAM = "MZ" + "1" * 32
MESSAGES_PER_CALL_SECOND = 50


class NullOutbox:
    def send(self, text: str, *, audio: bool = False) -> None:
        pass

    def drop_audio(self) -> int:
        return 0


class StepClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _media(payload: bytes) -> str:
    return json.dumps({"event": "media", "streamSid": STREAM, "sequenceNumber": "3",
                       "media": {"track": "inbound", "chunk": "2", "timestamp": "40",
                                 "payload": base64.b64encode(payload).decode()}})  # fmt: skip


def _texts(speaking: bool) -> list[str]:
    """50 media messages (1 s) of line noise, or of a voiced signal."""
    rnd = random.Random(1)
    if not speaking:
        quiet = (0xFD, 0xFE, 0xFF, 0x7E, 0x7F)  # mu-law codes around zero: line noise
        return [_media(bytes(rnd.choice(quiet) for _ in range(160))) for _ in range(50)]
    from media.codecs.g711 import ulaw_encode

    samples = []
    for n in range(160 * 50):  # a 220 Hz buzz, amplitude-modulated, with noise
        t = n / 8000
        envelope = 1 + 0.5 * math.sin(2 * math.pi * 3 * t)
        samples.append(round(8000 * math.sin(2 * math.pi * 220 * t) * envelope + rnd.gauss(0, 500)))
    line = ulaw_encode(array.array("h", samples).tobytes())
    return [_media(line[160 * i : 160 * (i + 1)]) for i in range(50)]


async def started_stream() -> tuple[Any, StepClock, Callable[[], Any]]:
    """A Twilio media stream past its ``start`` message on a one-call bench runtime,
    its step clock, and what closes both."""
    from benchmarks.twilio.server import Bench
    from telephony.admission import StreamAdmission
    from telephony.media_stream import TwilioMediaStream
    from telephony.tokens import StreamTokens

    bench = Bench(calls=1, freeze=False)
    tokens = StreamTokens(b"e" * 32)
    clock = StepClock()
    admission = StreamAdmission(tokens, upgrade_signed=False, account_sid=ACCOUNT_SID)
    stream = TwilioMediaStream(bench.runtime, NullOutbox(), admission=admission, clock=clock)
    start = {"event": "start", "sequenceNumber": "1", "streamSid": STREAM,
             "start": {"accountSid": ACCOUNT_SID, "streamSid": STREAM, "callSid": CALL,
                       "tracks": ["inbound"],
                       "customParameters": {"agent": AGENT, "token": tokens.mint(CALL, AGENT, "")},
                       "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                       "channels": 1}}}  # fmt: skip
    await stream.receive_text(json.dumps(start))

    async def close() -> None:
        await stream.aclose()
        await bench.runtime.aclose()

    return stream, clock, close


async def inbound_us(messages: int, rounds: int, *, speaking: bool = False) -> dict[str, Any]:
    stream, clock, close = await started_stream()
    texts = _texts(speaking)
    receive = stream.receive_streaming  # what the socket layer calls once streaming
    # Warm up (resampler history, its block matrix): a second of quiet, then the caller.
    for text in _texts(False) + texts:
        clock.now += 0.02
        receive(text)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for i in range(messages):
            clock.now += 0.02
            receive(texts[i % 50])
        best = min(best, time.process_time() - t0)
    assert stream.session is not None
    speaking = stream.session._detector.speaking
    await close()
    return {"us_per_message": round(best / messages * 1e6, 2), "speech_detected": speaking}


def outbound_us(frames: int, rounds: int) -> float:
    from media.transcode import OutboundAudio
    from telephony.messages import media_message

    outbound = OutboundAudio("mulaw", 8000)
    rnd = random.Random(2)
    pcm = bytes(rnd.randrange(256) for _ in range(640))
    for _ in range(10):
        outbound.convert(pcm)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(frames):
            payload = binascii.b2a_base64(outbound.convert(pcm), newline=False).decode()
            media_message(STREAM, payload)
        best = min(best, time.process_time() - t0)
    return round(best / frames * 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/twilio_edge.json")
    args = parser.parse_args()
    inbound = asyncio.run(inbound_us(args.messages, args.rounds))
    speaking = asyncio.run(inbound_us(args.messages, args.rounds, speaking=True))
    out_us = outbound_us(args.messages, args.rounds)
    result = {
        "benchmark": "CPU per Twilio media message inside CAP (no socket), best of rounds",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average": os.getloadavg(),
        "messages": args.messages,
        "rounds": args.rounds,
        "inbound": inbound,
        "inbound_ms_per_call_second": round(
            inbound["us_per_message"] * MESSAGES_PER_CALL_SECOND / 1000, 3
        ),
        "inbound_speaking": speaking,
        "inbound_speaking_ms_per_call_second": round(
            speaking["us_per_message"] * MESSAGES_PER_CALL_SECOND / 1000, 3
        ),
        "outbound_us_per_frame": out_us,
        "outbound_ms_per_speaking_second": round(out_us * MESSAGES_PER_CALL_SECOND / 1000, 3),
    }
    print(json.dumps(result, indent=1))
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
