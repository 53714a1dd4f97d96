"""Concurrent real-time Twilio calls per core, through the full Twilio path.

Two processes per step, each pinned to its own CPU, talking over real
WebSockets on localhost:

* the server under test (``benchmarks.twilio.server``): CAP's Media Streams
  endpoint (``telephony.socket.serve_media_stream``) behind uvicorn with the
  same WebSocket implementation ``cap serve`` uses. In it: validation at the
  edge, mu-law decode, 8 -> 16 kHz resampling, webrtcvad, the turn engine with
  fake providers (STT 150 ms, LLM first token 200 ms, TTS first audio 100 ms),
  the shared playout clock, 16 -> 8 kHz resampling, mu-law encode, marks;
* the simulated Twilio (``benchmarks.twilio.peers``): N calls sending 20 ms
  base64 mu-law ``media`` frames in real time (espeak-ng speech, then silence,
  in a cycle), playing what comes back at real-time rate, echoing each mark
  once the audio before it has played. Its CPU is not the server's.

A step passes when no frame was late (an outgoing tick finishing after the
next tick's deadline, a skipped tick, or an incoming media message read more
than a frame late) and the p95 added latency (agent's first audio at the
caller minus the VAD's end-of-speech decision, minus the fake providers'
fixed 450 ms) is under twice the 1-call value. The sender's own lateness is
reported apart (``driver_late_ticks``): a step where it is not 0 measured the
load generator, not the server.

The codec comparison measures, per 20 ms frame, our edge (validation,
base64, table mu-law, low-latency resampling, template JSON) against
pipecat's ``TwilioFrameSerializer`` (json, base64, audioop, its stream
resampler), the latter in pipecat's own virtualenv when one is found.

    python -m benchmarks.twilio_bench [--calls 1 50 100 150 200 250] [--secs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.twilio.common import IDEAL, READY, RESULT

ROOT = Path(__file__).resolve().parent.parent
PIPECAT_PYTHON = Path("/tmp/pcvenv/bin/python")
ULAW_FRAME = bytes(range(96, 256))  # 160 bytes: 20 ms of mu-law
STEP_TIMEOUT = 300.0


# ---------------------------------------------------------------- one step (two children)


@dataclass(frozen=True, slots=True)
class StepConfig:
    secs: float
    warmup: float
    server_cpu: int
    peer_cpu: int
    ws: str  # uvicorn's WebSocket implementation
    freeze: bool
    server: tuple[str, str] = (sys.executable, "benchmarks.twilio.server")  # python, module


def run_step(calls: int, config: StepConfig) -> dict[str, Any]:
    """One N: the server on ``server_cpu``, the simulated Twilio on ``peer_cpu``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    python, module = config.server
    server_cmd = [python, "-m", module, str(calls), str(config.server_cpu), config.ws,
                  "freeze" if config.freeze else "no-freeze"]  # fmt: skip
    peers_cmd = [sys.executable, "-m", "benchmarks.twilio.peers", str(calls), "PORT",
                 str(config.peer_cpu), str(config.secs), str(config.warmup)]  # fmt: skip
    # The server's log goes to a file: a pipe nobody drains would block it.
    with tempfile.TemporaryFile("w+") as log:
        child = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line.startswith(READY):
                child.wait(10)
                log.seek(0)
                raise RuntimeError(f"server did not start: {line}{log.read()[-3000:]}")
            peers_cmd[peers_cmd.index("PORT")] = line.removeprefix(READY).strip()
            peers = subprocess.run(
                peers_cmd, capture_output=True, text=True, env=env, check=False,
                timeout=STEP_TIMEOUT,
            )  # fmt: skip
        finally:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        log.seek(0)
        server_log = log.read()[-3000:]
    for out in peers.stdout.splitlines():
        if out.startswith(RESULT):
            step: dict[str, Any] = json.loads(out.removeprefix(RESULT))
            cpu = step.pop("cpu_secs")
            return {
                "calls": calls,
                "window_secs": config.secs,
                **step,
                "cpu_utilisation": round(cpu / config.secs, 3),
                # CPU milliseconds per call per second of audio: the load-independent cost.
                "cpu_ms_per_call_second": round(cpu / config.secs / calls * 1000, 3),
            }
    raise RuntimeError(f"step {calls} failed:\n{peers.stderr[-3000:]}\nserver:\n{server_log}")


# ---------------------------------------------------------------- codec comparison (child)


def cap_codec(frames: int) -> dict[str, float]:
    """Our edge per 20 ms frame, in CPU time: what ``TwilioMediaStream`` does."""
    import base64
    import binascii

    from media.transcode import InboundAudio, OutboundAudio
    from telephony.messages import Media, inbound_message, media_message

    payload = base64.b64encode(ULAW_FRAME).decode()
    text = json.dumps({"event": "media", "streamSid": "MZ" + "0" * 32,
                       "media": {"track": "inbound", "payload": payload}})  # fmt: skip
    inbound, outbound = InboundAudio("mulaw", 8000), OutboundAudio("mulaw", 8000)
    pcm16k = bytes(range(256)) * 2 + bytes(128)
    held = {
        "in_frames_before_first_output": next(i for i in range(50) if inbound.push(ULAW_FRAME)),
        "out_frames_before_first_output": next(i for i in range(50) if outbound.convert(pcm16k)),
    }
    t0 = time.process_time()
    for _ in range(frames):
        message = inbound_message.validate_json(text)
        assert isinstance(message, Media)
        inbound.push(binascii.a2b_base64(message.media.payload, strict_mode=True))
    t1 = time.process_time()
    for _ in range(frames):
        encoded = binascii.b2a_base64(outbound.convert(pcm16k), newline=False).decode()
        media_message("MZ" + "0" * 32, encoded)
    t2 = time.process_time()
    return {"in_us": (t1 - t0) / frames * 1e6, "out_us": (t2 - t1) / frames * 1e6, **held}


async def pipecat_codec(frames: int) -> dict[str, float]:
    import base64

    from pipecat.frames.frames import OutputAudioRawFrame
    from pipecat.serializers.twilio import TwilioFrameSerializer

    params = TwilioFrameSerializer.InputParams(auto_hang_up=False)
    serializer = TwilioFrameSerializer("MZ" + "0" * 32, params=params)
    serializer._sample_rate = 16000  # what setup() sets from the pipeline's StartFrame
    payload = base64.b64encode(ULAW_FRAME).decode()
    text = json.dumps({"event": "media", "streamSid": "MZ" + "0" * 32,
                       "media": {"track": "inbound", "payload": payload}})  # fmt: skip
    pcm16k = bytes(range(256)) * 2 + bytes(128)
    # Frames fed before any audio comes out: the resampler's hold-back.
    held = {"in_frames_before_first_output": 50, "out_frames_before_first_output": 50}
    for i in range(50):
        frame = await serializer.deserialize(text)
        if frame is not None and frame.audio:
            held["in_frames_before_first_output"] = i
            break
    for i in range(50):
        if await serializer.serialize(OutputAudioRawFrame(pcm16k, 16000, 1)):
            held["out_frames_before_first_output"] = i
            break
    t0 = time.process_time()
    for _ in range(frames):
        await serializer.deserialize(text)
    t1 = time.process_time()
    for _ in range(frames):
        await serializer.serialize(OutputAudioRawFrame(pcm16k, 16000, 1))
    t2 = time.process_time()
    return {"in_us": (t1 - t0) / frames * 1e6, "out_us": (t2 - t1) / frames * 1e6, **held}


# ---------------------------------------------------------------- orchestration


def _child(args: list[str], python: str = sys.executable) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [python, "-m", "benchmarks.twilio_bench", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            parsed: dict[str, Any] = json.loads(line.removeprefix(RESULT))
            return parsed
    raise RuntimeError(f"step {args} failed:\n{done.stderr[-3000:]}")


def _worker(argv: list[str]) -> None:
    os.sched_setaffinity(0, {int(argv[2])})
    if argv[0] == "cap-codec":
        result = cap_codec(int(argv[1]))
    else:
        result = asyncio.run(pipecat_codec(int(argv[1])))
    print(RESULT + json.dumps(result), flush=True)


def _last_cost(steps: list[dict[str, Any]]) -> float | None:
    """CPU ms per call-second of the largest step that ran."""
    costs = [s["cpu_ms_per_call_second"] for s in steps if "cpu_ms_per_call_second" in s]
    return costs[-1] if costs else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 50, 100, 150, 200, 250])
    parser.add_argument("--secs", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--cpu", type=int, default=1, help="CPU the server is pinned to")
    parser.add_argument("--peer-cpu", type=int, default=0, help="CPU of the simulated Twilio")
    parser.add_argument(
        "--ws",
        default="cap",
        help="the server's WebSocket stack: cap (cap serve's, the media socket taken over "
        "after the handshake) or a uvicorn name such as websockets-sansio",
    )
    parser.add_argument(
        "--pipecat-calls", type=int, nargs="*", default=[1, 50, 100], help="pipecat's steps"
    )
    parser.add_argument(
        "--floor-calls", type=int, default=100, help="calls for the bare WebSocket floor (0: skip)"
    )
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="leave the start-up objects to the GC"
    )
    parser.add_argument("--codec-frames", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/twilio.json")
    args = parser.parse_args()

    frames, cpu = str(args.codec_frames), str(args.cpu)
    codec: dict[str, Any] = {"cap": _child(["cap-codec", frames, cpu])}
    if PIPECAT_PYTHON.exists():
        codec["pipecat"] = _child(["pipecat-codec", frames, cpu], str(PIPECAT_PYTHON))
    else:
        codec["pipecat"] = "pipecat-ai not installed: serializer not measured"
    print("codec per 20 ms frame (CPU us):", json.dumps(codec))

    # pipecat's server and the bare floor are plain ASGI apps: uvicorn's own stack.
    asgi_ws = "websockets-sansio" if args.ws == "cap" else args.ws

    def ladder(server: tuple[str, str], counts: list[int]) -> list[dict[str, Any]]:
        ws = args.ws if server[1] == "benchmarks.twilio.server" else asgi_ws
        config = StepConfig(
            args.secs, args.warmup, args.cpu, args.peer_cpu, ws, not args.no_gc_freeze, server
        )
        steps: list[dict[str, Any]] = []
        baseline: float | None = None
        failed = 0
        for calls in counts:
            if failed == 2:
                break  # two steps in a row failed: larger ones will too
            try:
                step = run_step(calls, config)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(server[1], calls, "calls: step failed:", str(exc)[-500:], flush=True)
                steps.append({"calls": calls, "error": str(exc)[:300], "passed": False})
                failed += 1
                continue
            if baseline is None:
                baseline = step["p95_added_ms"]
            late = step["late_out_ticks"] + step["late_in_messages"] + step["skipped_ticks"]
            added = step["p95_added_ms"]
            step["passed"] = late == 0 and added is not None and added < 2 * max(baseline or 0, 1)
            step["load_average"] = os.getloadavg()
            steps.append(step)
            failed = 0 if step["passed"] else failed + 1
            print(server[1], json.dumps(step), flush=True)
        return steps

    steps = ladder((sys.executable, "benchmarks.twilio.server"), args.calls)
    passing = [s["calls"] for s in steps if s["passed"]]
    pipecat: dict[str, Any] | str = "pipecat-ai not installed: not measured"
    if PIPECAT_PYTHON.exists() and args.pipecat_calls:
        pc_server = (str(PIPECAT_PYTHON), "benchmarks.twilio.pipecat_server")
        pc_steps = ladder(pc_server, args.pipecat_calls)
        pc_passing = [s["calls"] for s in pc_steps if s["passed"]]
        pc_cost = _last_cost(pc_steps)
        pipecat = {
            "max_calls_per_core": max(pc_passing, default=0),
            "cpu_budget_calls_per_core": round(1000 / pc_cost) if pc_cost else None,
            "steps": pc_steps,
        }
    floor: dict[str, Any] | str = "not measured"
    if args.floor_calls:
        config = StepConfig(
            args.secs, args.warmup, args.cpu, args.peer_cpu, asgi_ws, not args.no_gc_freeze,
            (sys.executable, "benchmarks.twilio.bare_server"),
        )  # fmt: skip
        floor = run_step(args.floor_calls, config)
        print("bare WebSocket receive floor:", json.dumps(floor), flush=True)
    # What one fully busy core could carry at the measured CPU cost per call (the
    # largest step's, which includes the shared per-tick overhead amortised).
    cost = _last_cost(steps)
    report = {
        "benchmark": "twilio media streams, calls per core",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "setup": (
            f"server (uvicorn, ws={args.ws}, uvloop) pinned to CPU {args.cpu}; simulated "
            f"Twilio in its own process pinned to CPU {args.peer_cpu}, over localhost WebSockets"
        ),
        "provider_time_ms": IDEAL * 1000,
        "criterion": "no late frame and p95 added latency < 2x the 1-call value",
        "max_calls_per_core": max(passing, default=0),
        "cpu_budget_calls_per_core": round(1000 / cost) if cost else None,
        "steps": steps,
        "pipecat": pipecat,
        # The same uvicorn/Starlette stack reading and dropping the same traffic:
        # the part of the per-call CPU that is spent before any CAP code runs.
        "websocket_floor": floor,
        "codec_us_per_frame": codec,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"largest passing N: {report['max_calls_per_core']} calls on one core; "
        f"CPU budget: {report['cpu_budget_calls_per_core']} calls per core -> {args.out}"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("cap-codec", "pipecat-codec"):
        _worker(sys.argv[1:])
    else:
        main()
