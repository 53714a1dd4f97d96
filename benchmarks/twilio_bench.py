"""Concurrent real-time Twilio calls per core, through the full Twilio path.

Each call is a ``TwilioMediaStream`` fed Twilio's JSON messages as Twilio sends
them: 20 ms base64 mu-law 8 kHz ``media`` frames in real time (espeak-ng speech,
then silence, in a cycle), and it answers with ``media`` and ``mark`` messages
that a simulated Twilio plays back at real-time rate, echoing each mark once
the audio before it has played. In between: validation at the edge, mu-law
decode, 8 -> 16 kHz resampling, webrtcvad, the turn engine with fake
providers (STT 150 ms, LLM first token 200 ms, TTS first audio 100 ms), the
shared playout clock, 16 -> 8 kHz resampling, mu-law encode, marks.

What is not in the path: the WebSocket framing itself (the messages go
straight into the stream's ``receive_text`` and out of its outbox); the
simulated Twilio runs in the same process and its CPU counts against us.

Each N runs in a fresh process pinned to one CPU. A step passes when no frame
was late (an outgoing tick finishing after the next tick's deadline, a missed
tick, or an incoming batch more than a frame late) and the p95 added latency
(agent's first audio at the caller minus the VAD's end-of-speech decision,
minus the fake providers' fixed 450 ms) is under twice the 1-call value.

The codec comparison measures, per 20 ms frame, our edge (pydantic validation,
base64, table mu-law, soxr stream resampling, template JSON) against pipecat's
``TwilioFrameSerializer`` (json, base64, audioop, its stream resampler), the
latter in pipecat's own virtualenv when one is found.

    python benchmarks/twilio_bench.py [--calls 1 50 100 200 300] [--secs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULT = "TWILIO-BENCH "
PIPECAT_PYTHON = Path("/tmp/pcvenv/bin/python")
FRAME = 0.02
STT, LLM_FIRST, TTS_FIRST = 0.15, 0.2, 0.1
IDEAL = STT + LLM_FIRST + TTS_FIRST  # provider time from VAD stop to first agent audio
# A one-token first sentence, so TTS starts on the first token (as in the voice bench).
REPLY = "Okay. It is half past ten."  # ~1.6 s of fake TTS audio
CYCLE_SECS = 6.0  # speech, then silence while the agent answers
SLOTS = 4  # phases within each 20 ms period over which the calls are spread
ULAW_FRAME = bytes(range(96, 256))  # 160 bytes: 20 ms of mu-law


# ---------------------------------------------------------------- one step (child)


def _speech_frames() -> list[str]:
    """Base64 mu-law 20 ms frames of one utterance."""
    import base64

    from media.codecs.g711 import ulaw_encode
    from tests.support.speech import speak

    pcm = speak("What time is it, please?", 8000)
    frames = [pcm[i : i + 320].ljust(320, b"\0") for i in range(0, len(pcm), 320)]
    return [base64.b64encode(ulaw_encode(f)).decode() for f in frames]


class SimulatedTwilio:
    """Twilio's side of one call: plays what it receives, echoes marks, honours clear."""

    def __init__(
        self,
        index: int,
        phase: int,
        speech: tuple[list[str], str],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.sid = f"MZ{index:032x}"
        self.call_sid = f"CA{index:032x}"
        self.speech, self.silent = speech
        self.loop = loop
        self.cycle = round(CYCLE_SECS / FRAME)
        self.tick = phase
        self.buffered = 0  # bytes queued for playback
        self.received = 0
        self.played = 0
        self.marks: list[tuple[int, str]] = []
        self.cleared_marks: list[str] = []
        self.last_media = 0.0
        self.reply_starts: list[float] = []
        self.stream: Any = None

    def inbound(self, now: float) -> str:
        position = self.tick % self.cycle
        self.tick += 1
        payload = self.speech[position] if position < len(self.speech) else self.silent
        return (
            f'{{"event":"media","sequenceNumber":"{self.tick}","media":{{"track":"inbound",'
            f'"chunk":"{self.tick}","timestamp":"{self.tick * 20}","payload":"{payload}"}},'
            f'"streamSid":"{self.sid}"}}'
        )

    # Outbox protocol: what the server sends.
    def send(self, text: str, *, audio: bool = False) -> None:
        if text.startswith('{"event":"media"'):
            size = (len(text) - MEDIA_OVERHEAD - len(self.sid)) // 4 * 3 - text.count("=")
            self.buffered += size
            self.received += size
            now = self.loop.time()
            if now - self.last_media > 0.1:
                self.reply_starts.append(now)
            self.last_media = now
        elif text.startswith('{"event":"mark"'):
            self.marks.append((self.received, text[text.rindex(':"') + 2 : -3]))
        elif text.startswith('{"event":"clear"'):
            self.buffered = 0
            self.received = self.played
            # Twilio echoes every pending mark at once on a clear.
            self.cleared_marks += [name for _, name in self.marks]
            self.marks = []

    def drop_audio(self) -> int:
        return 0

    def playback(self) -> list[str]:
        """One 20 ms playback tick; returns the mark echoes now due."""
        take = min(160, self.buffered)
        self.buffered -= take
        self.played += take
        due, self.cleared_marks = self.cleared_marks, []
        while self.marks and self.marks[0][0] <= self.played:
            due.append(self.marks.pop(0)[1])
        return [
            f'{{"event":"mark","sequenceNumber":"0","streamSid":"{self.sid}",'
            f'"mark":{{"name":"{name}"}}}}'
            for name in due
        ]


MEDIA_OVERHEAD = len('{"event":"media","streamSid":"","media":{"payload":""}}')


async def run_step(calls: int, secs: float, warmup: float, freeze: bool) -> dict[str, Any]:
    import base64
    import gc
    import resource

    from control_plane.voice.runtime import VoiceRuntime
    from media.codecs.g711 import ulaw_encode
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
    from telephony.admission import StreamAdmission
    from telephony.media_stream import TwilioMediaStream
    from telephony.tokens import StreamTokens

    loop = asyncio.get_running_loop()
    registry = ProviderRegistry()
    registry.register("stt", "b", lambda: FakeSTT(knobs=FakeSTTKnobs(final_latency=STT)))
    registry.register(
        "llm", "b", lambda: FakeLLM(lambda _: REPLY, FakeLLMKnobs(LLM_FIRST, token_interval=0.01))
    )
    registry.register(
        "tts", "b", lambda: FakeTTS(knobs=FakeTTSKnobs(first_audio_latency=TTS_FIRST))
    )
    spec = AgentSpec(
        id="bench", greeting=None, stt=(ProviderSpec("b"),), llm=(ProviderSpec("b"),),
        tts=(ProviderSpec("b"),), vad="webrtc",
    )  # fmt: skip
    runtime = VoiceRuntime(registry, {"bench": spec}, max_sessions=calls + 1)
    await runtime.start()
    tokens = StreamTokens(b"b" * 32)
    speech = (_speech_frames(), base64.b64encode(ulaw_encode(bytes(320))).decode())
    rng = random.Random(7)
    peers: list[SimulatedTwilio] = []
    for i in range(calls):
        peer = SimulatedTwilio(i, rng.randrange(round(CYCLE_SECS / FRAME)), speech, loop)
        admission = StreamAdmission(tokens, upgrade_signed=True)
        peer.stream = TwilioMediaStream(runtime, peer, admission=admission)
        start = {
            "event": "start", "streamSid": peer.sid,
            "start": {"accountSid": "AC" + "0" * 32, "callSid": peer.call_sid,
                      "customParameters": {"agent": "bench"},
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                      "channels": 1}},
        }  # fmt: skip
        await peer.stream.receive_text(json.dumps(start))
        peers.append(peer)

    if freeze:
        # Move everything loaded so far out of the collector's reach: a full
        # collection over the libraries' objects otherwise stalls the loop for
        # tens of milliseconds (76 ms measured with 50 calls), i.e. late frames.
        gc.collect()
        gc.freeze()
    out_late: list[float] = []
    runtime.clock.register(lambda when: out_late.append(loop.time() - when))
    in_late: list[float] = []
    started = loop.time()
    measure_from = started + warmup
    end = measure_from + secs
    deadline = started
    cpu0 = None
    wall0 = started
    waited0 = 0.0
    # Calls are spread over SLOTS phases of the 20 ms period, as independent
    # calls' packets arrive; each call still gets one frame every 20 ms.
    groups = [peers[slot::SLOTS] for slot in range(SLOTS)]
    slot = 0
    while deadline < end:
        deadline += FRAME / SLOTS
        await asyncio.sleep(max(0.0, deadline - loop.time()))
        now = loop.time()
        if now >= measure_from and cpu0 is None:
            cpu0 = time.process_time()
            wall0 = now
            waited0 = _runqueue_wait()
            out_late.clear()
            clock0 = (runtime.clock.skipped_ticks, runtime.clock.late_ticks)
        in_late.append(now - deadline)
        group, slot = groups[slot], (slot + 1) % SLOTS
        for peer in group:
            await peer.stream.receive_text(peer.inbound(now))
            for echo in peer.playback():
                await peer.stream.receive_text(echo)
    cpu = time.process_time() - (cpu0 or 0.0)
    # Overloaded, the driver falls behind and the window takes longer than ``secs``.
    wall = loop.time() - wall0
    waited = _runqueue_wait() - waited0
    window_in = in_late[round(warmup / FRAME * SLOTS) :]
    latencies = sorted(_added_latencies(runtime, peers, measure_from, end))
    bad = sum(sum(p.stream.bad_messages.values()) for p in peers)
    for peer in peers:
        await peer.stream.aclose()
    result = {
        "calls": calls,
        "window_secs": secs,
        "late_out_ticks": sum(1 for x in out_late if x > FRAME),
        "late_in_ticks": sum(1 for x in window_in if x > FRAME),
        "skipped_ticks": runtime.clock.skipped_ticks - clock0[0],
        "max_out_lateness_ms": round(max(out_late, default=0.0) * 1000, 1),
        "max_in_lateness_ms": round(max(window_in, default=0.0) * 1000, 1),
        "turns": len(latencies),
        "p50_added_ms": _ms(latencies, 0.5),
        "p95_added_ms": _ms(latencies, 0.95) if latencies else None,
        "wall_secs": round(wall, 2),
        "cpu_utilisation": round(cpu / wall, 3),
        # Time this process was ready to run but the CPU ran something else
        # (other processes on the machine): the part of lateness that is not ours.
        "runqueue_wait_ms": round(waited * 1000, 1),
        # CPU milliseconds per call per second of audio: the load-independent cost.
        "cpu_ms_per_call_second": round(cpu / secs / calls * 1000, 3),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "bad_messages": bad,
        "gc_frozen": freeze,
    }
    await runtime.aclose()
    return result


def _runqueue_wait() -> float:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat)."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _added_latencies(
    runtime: Any, peers: list[SimulatedTwilio], start: float, end: float
) -> list[float]:
    """Per answered turn: first agent audio at the caller - VAD stop - provider time."""
    by_session = {f"twilio-{p.sid}": p for p in peers}
    added: list[float] = []
    for record in runtime.recent_turns:
        marks = record.metrics.marks
        stop = marks.get("vad_end_confirmed")
        peer = by_session.get(record.session_id)
        if stop is None or peer is None or "interrupted" in marks or not start <= stop < end:
            continue
        first = next((t for t in peer.reply_starts if t >= stop), None)
        if first is not None:
            added.append(first - stop - IDEAL)
    return added


def _ms(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1)


# ---------------------------------------------------------------- codec comparison (child)


def cap_codec(frames: int) -> dict[str, float]:
    import base64

    from media.transcode import InboundAudio, OutboundAudio
    from telephony.messages import inbound_message, media_message

    payload = base64.b64encode(ULAW_FRAME).decode()
    text = json.dumps({"event": "media", "streamSid": "MZ" + "0" * 32,
                       "media": {"track": "inbound", "payload": payload}})  # fmt: skip
    inbound, outbound = InboundAudio("mulaw", 8000), OutboundAudio("mulaw", 8000)
    pcm16k = bytes(range(256)) * 2 + bytes(128)
    held = {
        "in_frames_before_first_output": next(i for i in range(50) if inbound.push(ULAW_FRAME)),
        "out_frames_before_first_output": next(i for i in range(50) if outbound.convert(pcm16k)),
    }
    t0 = time.perf_counter()
    for _ in range(frames):
        message = inbound_message.validate_json(text)
        inbound.push(base64.b64decode(message.media.payload, validate=True))  # type: ignore[union-attr]
    t1 = time.perf_counter()
    for _ in range(frames):
        media_message("MZ" + "0" * 32, base64.b64encode(outbound.convert(pcm16k)).decode())
    t2 = time.perf_counter()
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
    t0 = time.perf_counter()
    for _ in range(frames):
        await serializer.deserialize(text)
    t1 = time.perf_counter()
    for _ in range(frames):
        await serializer.serialize(OutputAudioRawFrame(pcm16k, 16000, 1))
    t2 = time.perf_counter()
    return {"in_us": (t1 - t0) / frames * 1e6, "out_us": (t2 - t1) / frames * 1e6, **held}


# ---------------------------------------------------------------- orchestration


def _child(args: list[str], python: str = sys.executable) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [python, __file__, *args], capture_output=True, text=True, env=env, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            parsed: dict[str, Any] = json.loads(line.removeprefix(RESULT))
            return parsed
    raise RuntimeError(f"step {args} failed:\n{done.stderr[-3000:]}")


def _worker(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "step":
        os.sched_setaffinity(0, {int(argv[4])})
        import uvloop

        step = run_step(int(argv[1]), float(argv[2]), float(argv[3]), argv[5] == "freeze")
        result = uvloop.run(step)
    elif mode == "cap-codec":
        result = cap_codec(int(argv[1]))
    else:
        result = asyncio.run(pipecat_codec(int(argv[1])))
    print(RESULT + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 25, 50, 100, 150, 200])
    parser.add_argument("--secs", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--cpu", type=int, default=1, help="CPU each step is pinned to")
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="leave the start-up objects to the GC"
    )
    parser.add_argument("--codec-frames", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/twilio.json")
    args = parser.parse_args()

    codec: dict[str, Any] = {"cap": _child(["cap-codec", str(args.codec_frames)])}
    if PIPECAT_PYTHON.exists():
        codec["pipecat"] = _child(["pipecat-codec", str(args.codec_frames)], str(PIPECAT_PYTHON))
    else:
        codec["pipecat"] = "pipecat-ai not installed: serializer not measured"
    print("codec per 20 ms frame (us):", json.dumps(codec))

    steps: list[dict[str, Any]] = []
    baseline: float | None = None
    for calls in args.calls:
        freeze = "no-freeze" if args.no_gc_freeze else "freeze"
        step = _child(["step", str(calls), str(args.secs), str(args.warmup), str(args.cpu), freeze])
        if baseline is None:
            baseline = step["p95_added_ms"]
        late = step["late_out_ticks"] + step["late_in_ticks"] + step["skipped_ticks"]
        added = step["p95_added_ms"]
        step["passed"] = late == 0 and added is not None and added < 2 * max(baseline or 0, 1)
        steps.append(step)
        print(json.dumps(step), flush=True)
    passing = [s["calls"] for s in steps if s["passed"]]
    # What one fully busy core could carry at the measured CPU cost per call (the
    # largest step's, which includes the shared per-tick overhead amortised).
    cost = steps[-1]["cpu_ms_per_call_second"]
    report = {
        "benchmark": "twilio media streams, calls per core",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "provider_time_ms": IDEAL * 1000,
        "criterion": "no late frame and p95 added latency < 2x the 1-call value",
        "max_calls_per_core": max(passing, default=0),
        "cpu_budget_calls_per_core": round(1000 / cost) if cost else None,
        "steps": steps,
        "codec_us_per_frame": codec,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"largest passing N: {report['max_calls_per_core']} calls on one core; "
        f"CPU budget: {report['cpu_budget_calls_per_core']} calls per core -> {args.out}"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("step", "cap-codec", "pipecat-codec"):
        _worker(sys.argv[1:])
    else:
        main()
