"""What a step records per session, and the figures derived from it.

Standard library only. Every time is ``time.perf_counter()`` in the process
that ran the step, taken by the harness at the framework's edges (frame
pushed in, VAD event callback, audio frame handed to the transport) and by
the fake providers, so the same definitions apply to every framework.

Each fake provider stamps when it is asked (``*_requests``) and when it answers
(``stt_finals``, ``llm_first_tokens``, ``tts_first_audio``). Its timer (an
``asyncio.sleep``) overshoots the configured delay by up to a timer tick (1 ms
on uvloop) plus a loop iteration, three times per turn: that is provider time,
so added latency is reported both against the nominal 450 ms and against the
providers' measured latency.
"""

from __future__ import annotations

import bisect
import math
import statistics
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.voice.scenario import FRAME_SECS, TIMING, ProviderTiming

# Agent audio frames further apart than this belong to different replies
# (replies are separated by at least the VAD stop window, 0.6 s).
REPLY_GAP_SECS = 0.3
# A reply that has not started this long after the VAD stop counts as missed.
REPLY_DEADLINE_SECS = 1.5
# A frame more than one frame period behind its reply's schedule is late.
LATE_SECS = FRAME_SECS


def _floats() -> array[float]:
    return array("d")


@dataclass
class SessionTrace:
    # (label, barge_in, time the utterance's first voiced frame was pushed)
    utterance_starts: list[tuple[str, bool, float]] = field(default_factory=list)
    utterance_ends: list[tuple[str, float]] = field(default_factory=list)
    vad_starts: array[float] = field(default_factory=_floats)
    vad_stops: array[float] = field(default_factory=_floats)
    out: array[float] = field(default_factory=_floats)
    stt_requests: array[float] = field(default_factory=_floats)  # flush / VAD stop seen
    stt_finals: array[float] = field(default_factory=_floats)
    llm_requests: array[float] = field(default_factory=_floats)
    llm_first_tokens: array[float] = field(default_factory=_floats)
    tts_requests: array[float] = field(default_factory=_floats)  # each sentence asked for
    tts_first_audio: array[float] = field(default_factory=_floats)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summary_ms(values_secs: Sequence[float]) -> dict[str, float | int]:
    ms = [v * 1000.0 for v in values_secs]
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        "median": round(statistics.median(ms), 2),
        "p95": round(percentile(ms, 0.95), 2),
        "max": round(max(ms), 2),
        "mean": round(statistics.fmean(ms), 2),
    }


def _first_at_or_after(xs: Sequence[float], t: float) -> float | None:
    i = bisect.bisect_left(xs, t)
    return xs[i] if i < len(xs) else None


def _reply_start_after(out: Sequence[float], t: float) -> float | None:
    """The first agent frame after ``t`` that opens a reply (follows a gap)."""
    i = bisect.bisect_right(out, t)
    while i < len(out):
        if i == 0 or out[i] - out[i - 1] > REPLY_GAP_SECS:
            return out[i]
        i += 1
    return None


def _run_end(out: Sequence[float], i: int) -> int:
    while i + 1 < len(out) and out[i + 1] - out[i] <= REPLY_GAP_SECS:
        i += 1
    return i


# The framework's own hops between the stamps of one turn (nothing of the providers').
FRAMEWORK_GAPS = (
    "vad_stop_to_stt_asked",
    "stt_final_to_llm_asked",
    "llm_token_to_tts_asked",
    "tts_audio_to_first_frame_out",
)


@dataclass
class _Acc:
    added: list[float] = field(default_factory=list)
    added_measured: list[float] = field(default_factory=list)
    provider_overshoot: list[float] = field(default_factory=list)
    framework_gaps: dict[str, list[float]] = field(
        default_factory=lambda: {k: [] for k in FRAMEWORK_GAPS}
    )
    stt_stage: list[float] = field(default_factory=list)
    llm_stage: list[float] = field(default_factory=list)
    tts_stage: list[float] = field(default_factory=list)
    playout_stage: list[float] = field(default_factory=list)
    turns_expected: int = 0
    turns_missed: int = 0
    barge_from_voice: list[float] = field(default_factory=list)
    barge_from_confirm: list[float] = field(default_factory=list)
    barge_expected: int = 0
    barge_agent_silent: int = 0
    barge_not_stopped: int = 0
    frames_out: int = 0
    frames_late: int = 0
    worst_lateness: float = 0.0


def _measured(trace: SessionTrace, stop: float, first_out: float) -> list[float] | None:
    """Stamps of one turn's provider calls, in order, or None when one is missing.

    Returns [stt asked, stt final, llm asked, llm token, tts asked, tts audio].
    """
    stamps: list[float] = []
    t = stop
    for xs in (
        trace.stt_requests,
        trace.stt_finals,
        trace.llm_requests,
        trace.llm_first_tokens,
        trace.tts_requests,
        trace.tts_first_audio,
    ):
        found = _first_at_or_after(xs, t)
        if found is None or found > first_out:
            return None
        stamps.append(found)
        t = found
    return stamps


def _turns(trace: SessionTrace, lo: float, hi: float, acc: _Acc, timing: ProviderTiming) -> None:
    ends = trace.utterance_ends
    for n, (_label, end) in enumerate(ends):
        if not lo <= end <= hi - REPLY_DEADLINE_SECS - 1.0:
            continue
        acc.turns_expected += 1
        limit = ends[n + 1][1] if n + 1 < len(ends) else math.inf
        stop = _first_at_or_after(trace.vad_stops, end)
        if stop is None or stop > min(limit, end + 2.0):
            acc.turns_missed += 1
            continue
        first_out = _reply_start_after(trace.out, stop)
        if first_out is None or first_out - stop > REPLY_DEADLINE_SECS:
            acc.turns_missed += 1
            continue
        acc.added.append(first_out - stop - timing.ideal_secs)
        m = _measured(trace, stop, first_out)
        if m is not None:
            provider = (m[1] - m[0]) + (m[3] - m[2]) + (m[5] - m[4])
            acc.added_measured.append(first_out - stop - provider)
            acc.provider_overshoot.append(provider - timing.ideal_secs)
            gaps = acc.framework_gaps
            gaps["vad_stop_to_stt_asked"].append(m[0] - stop)
            gaps["stt_final_to_llm_asked"].append(m[2] - m[1])
            gaps["llm_token_to_tts_asked"].append(m[4] - m[3])
            gaps["tts_audio_to_first_frame_out"].append(first_out - m[5])
        stt = _first_at_or_after(trace.stt_finals, stop)
        llm = _first_at_or_after(trace.llm_first_tokens, stt) if stt else None
        tts = _first_at_or_after(trace.tts_first_audio, llm) if llm else None
        if stt and llm and tts and tts <= first_out:
            acc.stt_stage.append(stt - stop - timing.stt_final_secs)
            acc.llm_stage.append(llm - stt - timing.llm_first_token_secs)
            acc.tts_stage.append(tts - llm - timing.tts_first_audio_secs)
            acc.playout_stage.append(first_out - tts)


def _barge_ins(trace: SessionTrace, lo: float, hi: float, acc: _Acc) -> None:
    out = trace.out
    for n, (_label, barge, voiced) in enumerate(trace.utterance_starts):
        # The caller's first utterance may be a barge-in one: nothing was asked yet.
        if n == 0 or not barge or not lo <= voiced <= hi - 2.0:
            continue
        acc.barge_expected += 1
        i = bisect.bisect_left(out, voiced - 0.1)
        if i >= len(out) or out[i] > voiced:
            acc.barge_agent_silent += 1  # nothing to interrupt: the reply came late
            continue
        last = out[_run_end(out, i)]
        confirm = _first_at_or_after(trace.vad_starts, voiced)
        if last - voiced > 1.5 or confirm is None:
            acc.barge_not_stopped += 1
            continue
        acc.barge_from_voice.append(last - voiced)
        acc.barge_from_confirm.append(last - confirm)


def _lateness(trace: SessionTrace, lo: float, hi: float, acc: _Acc) -> None:
    """Each reply's frames should leave one period apart from its first frame."""
    out = trace.out
    i = 0
    while i < len(out):
        end = _run_end(out, i)
        first = out[i]
        for k in range(i, end + 1):
            if lo <= out[k] <= hi:
                acc.frames_out += 1
                behind = out[k] - (first + (k - i) * FRAME_SECS)
                acc.worst_lateness = max(acc.worst_lateness, behind)
                if behind > LATE_SECS:
                    acc.frames_late += 1
        i = end + 1


def analyse(
    traces: Sequence[SessionTrace], lo: float, hi: float, timing: ProviderTiming = TIMING
) -> dict[str, Any]:
    """Figures over the measurement window ``[lo, hi]`` (perf_counter seconds)."""
    acc = _Acc()
    for trace in traces:
        _turns(trace, lo, hi, acc, timing)
        _barge_ins(trace, lo, hi, acc)
        _lateness(trace, lo, hi, acc)
    return {
        "added_latency_ms": summary_ms(acc.added),
        # First frame out - VAD stop - what the three fakes actually took.
        "added_latency_vs_measured_providers_ms": summary_ms(acc.added_measured),
        # What the fakes took beyond their configured 450 ms (timer overshoot).
        "provider_overshoot_ms": summary_ms(acc.provider_overshoot),
        "framework_gaps_ms": {k: summary_ms(v) for k, v in acc.framework_gaps.items()},
        "breakdown_ms": {
            "vad_stop_to_stt_final_minus_150": summary_ms(acc.stt_stage),
            "stt_final_to_llm_token_minus_200": summary_ms(acc.llm_stage),
            "llm_token_to_tts_audio_minus_100": summary_ms(acc.tts_stage),
            "tts_audio_to_first_frame_out": summary_ms(acc.playout_stage),
        },
        "turns_expected": acc.turns_expected,
        "turns_missed": acc.turns_missed,
        "barge_in_from_first_voiced_ms": summary_ms(acc.barge_from_voice),
        "barge_in_from_vad_confirm_ms": summary_ms(acc.barge_from_confirm),
        "barge_ins_expected": acc.barge_expected,
        "barge_ins_agent_silent": acc.barge_agent_silent,
        "barge_ins_not_stopped": acc.barge_not_stopped,
        "frames_out": acc.frames_out,
        "frames_late": acc.frames_late,
        "worst_frame_lateness_ms": round(acc.worst_lateness * 1000.0, 2),
    }
