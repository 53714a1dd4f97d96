"""What the server, the simulated Twilio and the orchestrator agree on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
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

    ``stops`` are (stream SID, end-of-speech decision time) from the server,
    ``reply_starts`` the caller's first-audio times per stream SID; both on
    the machine's monotonic clock.
    """
    added: list[float] = []
    for sid, stop in stops:
        if not start <= stop < end:
            continue
        first = next((t for t in reply_starts.get(sid, []) if t >= stop), None)
        if first is not None:
            added.append(first - stop - IDEAL)
    return added


Json = dict[str, Any]
