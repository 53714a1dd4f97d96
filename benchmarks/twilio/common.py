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


# CAP's turn marks from the VAD decision to the first frame out, with the fakes'
# nominal time between each pair; the last gap, to the caller's read, is the hop.
_STAGES = (
    ("decision_to_stt_final_minus_150", "decision", "stt_final", STT),
    ("stt_final_to_llm_request", "stt_final", "llm_request", 0.0),
    ("llm_request_to_first_token_minus_200", "llm_request", "llm_first_token", LLM_FIRST),
    ("first_token_to_tts_audio_minus_100", "llm_first_token", "tts_first_audio", TTS_FIRST),
    ("tts_audio_to_first_frame_out", "tts_first_audio", "first_audio_out", 0.0),
    ("first_frame_out_to_caller_read", "first_audio_out", "caller_read", 0.0),
)


def cap_stage_gaps(
    turns: Iterable[Any], reply_starts: dict[str, list[float]], start: float, end: float
) -> Json:
    """Where CAP's added latency goes: median and max (ms) of each stage over the window.

    From the turns' marks (``VoiceRuntime.recent_turns``), each minus its fake's
    nominal time: a provider stage's remainder is mostly its ``asyncio.sleep``
    overshooting (uvloop arms timers in whole milliseconds). The marks are on
    the loop's millisecond clock, so each gap is +-1 ms; the last one crosses
    to the caller's clock (the WebSocket hop, plus up to 1 ms of truncation).
    """
    gaps: dict[str, list[float]] = {name: [] for name, *_ in _STAGES}
    for record in turns:
        marks = dict(record.metrics.marks)
        if "interrupted" in marks or "vad_end_confirmed" not in marks:
            continue
        marks["decision"] = marks["vad_end_confirmed"] + FRAME
        if not start <= marks["decision"] < end:
            continue
        sid = record.session_id.removeprefix("twilio-")
        read = next((t for t in reply_starts.get(sid, []) if t >= marks["decision"]), None)
        if read is not None:
            marks["caller_read"] = read
        for name, first, then, nominal in _STAGES:
            if first in marks and then in marks:
                gaps[name].append(marks[then] - marks[first] - nominal)
    return {
        name: {"median_ms": percentile_ms(values, 0.5), "max_ms": percentile_ms(values, 1.0)}
        for name, values in gaps.items()
        if values
    }


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
