"""What the server, the simulated Twilio and the orchestrator agree on."""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import hmac
import os
import resource
import time
from collections.abc import Iterable
from typing import Any

FRAME = 0.02
STT, LLM_FIRST, TTS_FIRST = 0.15, 0.2, 0.1
IDEAL = STT + LLM_FIRST + TTS_FIRST  # provider time from VAD stop to first agent audio
# A one-token first sentence, so TTS starts on the first token (as in the voice bench).
REPLY = "Okay. It is half past ten."  # ~1.6 s of fake TTS audio
CYCLE_SECS = 6.0  # speech, then silence while the agent answers
SLOTS = 4  # phases within each 20 ms period over which the calls are spread
AUTH_TOKEN = "bench-auth-token"
ACCOUNT_SID = "AC" + "0" * 32
AGENT = "bench"
MEDIA_PATH = "/media"
CONTROL_PATH = "/bench"
READY = "BENCH-SERVER-READY "
RESULT = "TWILIO-BENCH "

Json = dict[str, Any]


def twilio_signature(url: str) -> str:
    """``X-Twilio-Signature`` of a request with no POST parameters: HMAC-SHA1 of the URL."""
    mac = hmac.new(AUTH_TOKEN.encode(), url.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def pin(cpu: int) -> None:
    """Run this process on one CPU only."""
    os.sched_setaffinity(0, {cpu})


def runqueue_wait() -> float:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def lateness_in(arrivals: list[float], start: float, end: float) -> list[float]:
    """Per media message in [start, end): how late it arrived against a 20 ms schedule.

    The schedule is anchored on the earliest message relative to its index, so
    only delays (the server's or the sender's) count, never the fixed offset.
    """
    if not arrivals:
        return []
    anchor = min(t - k * FRAME for k, t in enumerate(arrivals))
    return [t - k * FRAME - anchor for k, t in enumerate(arrivals) if start <= t < end]


def percentile_ms(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


def added_latencies(
    stops: list[tuple[str, float]], reply_starts: dict[str, list[float]], start: float, end: float
) -> list[float]:
    """Per answered turn: first agent audio at the caller - VAD stop - provider time.

    ``stops`` are (stream SID, the moment the server decided the speech had
    ended), ``reply_starts`` the caller's receive times of each reply's first
    ``media`` message, per stream SID; both on the machine's monotonic clock
    (server and caller are two processes on one machine). What is left after
    the fixed 450 ms of fake providers is the server's own time from decision
    to reply plus one localhost WebSocket hop: as the voice bench's added
    latency, plus the hop. The audio's way in before the decision (decode,
    resampling, reframing) is not in it: ``codec_us_per_frame`` reports the
    frames the inbound path holds back.
    """
    added: list[float] = []
    for sid, stop in stops:
        if not start <= stop < end:
            continue
        first = next((t for t in reply_starts.get(sid, []) if t >= stop), None)
        if first is not None:
            added.append(first - stop - IDEAL)
    return added


def cap_vad_stops(turns: Iterable[Any]) -> list[tuple[str, float]]:
    """(stream SID, decision time) of CAP's uninterrupted turns (``VoiceRuntime.recent_turns``).

    A turn's ``vad_end_confirmed`` mark is the timestamp of the frame that
    completed the stop window, and a Twilio frame is dated from its message's
    arrival back by one frame: the mark is the frame's first sample, the
    decision came 20 ms later, when the message holding its last sample
    arrived. Counting from the mark put those 20 ms into the added latency.
    The mark is on the event loop's clock: uvloop's ``time()`` is the monotonic
    clock truncated to whole milliseconds, so a decision time here is 0-1 ms
    early (0.5 ms on average), which the figure counts.
    """
    stops: list[tuple[str, float]] = []
    for record in turns:
        mark = record.metrics.marks.get("vad_end_confirmed")
        if mark is not None and "interrupted" not in record.metrics.marks:
            stops.append((record.session_id.removeprefix("twilio-"), mark + FRAME))
    return stops


async def measure_window(start: float, end: float, freeze: bool) -> Json:
    """CPU and run-queue wait over [start, end) on the monotonic clock.

    With ``freeze`` the start-up objects (and the open calls) leave the GC's
    full passes first, as ``cap serve`` does after start-up.
    """
    if freeze:
        gc.collect()
        gc.freeze()
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    cpu0, wait0 = time.process_time(), runqueue_wait()
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    return {
        "cpu_secs": time.process_time() - cpu0,
        # Time runnable but waiting for the CPU (other processes): lateness not ours.
        "runqueue_wait_ms": round((runqueue_wait() - wait0) * 1000, 1),
    }


def step_report(
    window: Json,
    arrivals: list[list[float]],
    start: float,
    end: float,
    *,
    streams: int,
    gc_frozen: bool,
    stops: list[tuple[str, float]] | None = None,
    reply_starts: dict[str, list[float]] | None = None,
    bad_messages: int = 0,
) -> Json:
    """One server's figures for a step, the same keys whichever server measured them.

    ``window`` holds ``cpu_secs`` and ``runqueue_wait_ms`` (``measure_window``)
    and, from a server with a playout clock, its outgoing-tick figures
    (``late_out_ticks``, ``max_out_lateness_ms``, ``skipped_ticks``); without
    one they are 0 / None. ``arrivals`` are the media messages' arrival times
    per connection (``lateness_in``); ``stops`` the VAD decisions, as
    ``added_latencies`` takes them (None: a server that answers nothing).
    """
    late_in = [x for times in arrivals for x in lateness_in(times, start, end)]
    added = added_latencies(stops or [], reply_starts or {}, start, end)
    return {
        "late_out_ticks": 0,
        "max_out_lateness_ms": None,
        "skipped_ticks": 0,
        **window,
        "late_in_messages": sum(1 for x in late_in if x > FRAME),
        "max_in_lateness_ms": round(max(late_in, default=0.0) * 1000, 1),
        "turns": len(added),
        "vad_stops": len(stops or []),
        "p50_added_ms": percentile_ms(added, 0.5) if added else None,
        "p95_added_ms": percentile_ms(added, 0.95) if added else None,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "bad_messages": bad_messages,
        "streams": streams,
        "gc_frozen": gc_frozen,
    }
