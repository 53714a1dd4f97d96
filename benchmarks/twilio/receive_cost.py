"""Cost of one inbound Twilio media message, by part, in CPU time and instructions.

    python -m benchmarks.twilio.receive_cost [--messages 20000] [--rounds 5]
    python -m benchmarks.twilio.receive_cost --callgrind [--messages 2000]

Parts, each fed the media messages a socket hands the stream, laid out as
Twilio writes them (compact, Twilio's key order, as ``peers.py`` sends):

* ``parse``: the message's validation and payload decode as
  ``receive_streaming`` runs them (the media fast path ``twilio_media``, else
  the model through ``_parse`` and the base64 decode);
* ``parse_model``: the same for the same messages in ``json.dumps``' layout,
  which the fast path leaves to the model (``edge_cpu``'s texts);
* ``frame``: one ``AudioFrame`` construction as the inbound path builds it;
* ``receive``: ``TwilioMediaStream.receive_streaming``, the whole inbound path
  of a started stream with a real voice session (webrtcvad, turn engine, fake
  providers) on a quiet caller;
* ``receive_speaking``: the same on a voiced caller (also resampled for STT).

Without ``--callgrind`` each figure is the best of ``--rounds`` rounds of
``time.process_time`` (CPU time; on a shared machine the minimum is the least
disturbed round). With ``--callgrind`` the script runs itself under
``valgrind --tool=callgrind`` per part, counting only inside the measured
loop (``--toggle-collect=consume_iterator``: the loop runs in
``deque(map(...), maxlen=0)``, so setup, the event loop and the runtime's
playout clock are not counted), once with ``--messages`` and once with none,
and reports the difference per message: instruction counts, independent of
the machine's load. Figures are printed and written to
``benchmarks/results/twilio_receive.json``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import binascii
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.twilio.edge_cpu import (
    StepClock,
    _texts,
    started_stream,
)

# Callgrind runs with a fixed hash seed: no run-to-run difference in dict layouts.
_FIXED_HASH = {**os.environ, "PYTHONHASHSEED": "0"}
ROOT = Path(__file__).resolve().parents[2]
PARTS = ("parse", "parse_model", "frame", "receive", "receive_speaking")


def _twilio_layout(text: str, index: int) -> str:
    """The same media message as Twilio writes it (compact, its key order)."""
    message = json.loads(text)
    payload, sid = message["media"]["payload"], message["streamSid"]
    return (
        f'{{"event":"media","sequenceNumber":"{index + 2}","media":{{"track":"inbound",'
        f'"chunk":"{index + 1}","timestamp":"{index * 20}","payload":"{payload}"}},'
        f'"streamSid":"{sid}"}}'
    )


def _step(part: str, stream: Any, clock: StepClock) -> Callable[[int], object]:
    """One message's work for ``part``, given the message's index."""
    if part == "frame":
        from media.frames import AudioFrame

        pcm = bytes(320)
        return lambda i: AudioFrame(pcm, 8000, i * 0.02)
    texts = _texts(part == "receive_speaking")
    if part != "parse_model":  # the model's part keeps json.dumps' layout
        texts = [_twilio_layout(text, i) for i, text in enumerate(texts)]
    if part in ("parse", "parse_model"):
        from telephony.messages import twilio_media

        parse = stream._parse

        def validate(i: int) -> object:
            media = twilio_media(texts[i % 50])
            if media is not None:
                return media
            message = parse(texts[i % 50])  # a Media: its payload decoded as _on_media does
            return binascii.a2b_base64(message.media.payload, strict_mode=True)

        return validate
    receive = stream.receive_streaming

    def one(i: int) -> None:
        clock.now += 0.02
        receive(texts[i % 50])

    return one


async def run_part(part: str, messages: int, rounds: int) -> float:
    """Best CPU seconds for ``messages`` messages of ``part`` (0 messages: setup only)."""
    stream, clock, close = await started_stream()
    step = _step(part, stream, clock)
    # Warm up: a second of quiet, then the caller (resampler history, caches).
    warm = _step("receive", stream, clock)
    for i in range(50):
        warm(i)
    for i in range(100):
        step(i)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        _consume(map(step, range(messages)))
        best = min(best, time.process_time() - t0)
    bad = dict(stream.bad_messages)
    await close()
    if bad:
        raise RuntimeError(f"the benchmark's messages were rejected: {bad}")
    return best


def _consume(work: Iterator[object]) -> None:
    """Run ``work`` to its end inside C's ``consume_iterator``: callgrind counts only there."""
    deque(work, maxlen=0)


def _instructions(part: str, messages: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            "--toggle-collect=consume_iterator",
            sys.executable, "-m", "benchmarks.twilio.receive_cost",
            "--inner", part, "--messages", str(messages), "--rounds", "1",
        ]  # fmt: skip
        subprocess.run(cmd, cwd=ROOT, env=_FIXED_HASH, check=True, capture_output=True)
        summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
        if summary is None:
            raise RuntimeError("no summary line in the callgrind output")
        return int(summary.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--callgrind", action="store_true", help="instruction counts per message")
    parser.add_argument("--inner", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/twilio_receive.json")
    args = parser.parse_args()
    if args.inner:  # one run under valgrind
        asyncio.run(run_part(args.inner, args.messages, args.rounds))
        return
    result: dict[str, Any] = {
        "benchmark": "inbound Twilio media message, by part",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average": os.getloadavg(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip(),
    }
    if args.callgrind:
        messages = args.messages or 2000
        result["method"] = "callgrind Ir in the measured loop (N messages - 0) / N"
        result["messages"] = messages
        result["instructions_per_message"] = {
            part: round((_instructions(part, messages) - _instructions(part, 0)) / messages)
            for part in args.parts
        }
        out = args.out.with_name(args.out.stem + "_callgrind.json")
    else:
        messages = args.messages or 20_000
        result["method"] = "time.process_time, best of rounds"
        result["messages"] = messages
        result["rounds"] = args.rounds
        result["us_per_message"] = {
            part: round(asyncio.run(run_part(part, messages, args.rounds)) / messages * 1e6, 3)
            for part in args.parts
        }
        out = args.out
    print(json.dumps(result, indent=1))
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
