"""Turns step results into the CAP-vs-pipecat table (text and markdown)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Result = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Row:
    figure: str
    cap: float | None
    pipecat: float | None
    target: str
    unit: str
    higher_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        if self.cap is None or self.pipecat is None or self.pipecat == 0:
            return None
        return self.cap / self.pipecat


def stat(result: Result | None, path: str) -> float | None:
    """``metrics.added_latency_ms.p95``-style lookup; None when absent or errored."""
    if result is None or "error" in result:
        return None
    node: Any = result
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    if isinstance(node, (int, float)) and not (isinstance(node, float) and math.isnan(node)):
        return float(node)
    return None


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "sessions":
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


RATIO_NOTE = (
    "CAP/pipecat below 1: CAP lower (better for latency, CPU, memory); "
    "for sessions per core, above 1: CAP carries more."
)


def render_text(rows: list[Row]) -> str:
    width = max(len(r.figure) + len(r.unit) + 3 for r in rows)
    head = f"{'figure':<{width}} {'CAP':>8} {'pipecat':>8} {'CAP/pc':>7}  target"
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        cap, pc = _fmt(r.cap, r.unit), _fmt(r.pipecat, r.unit)
        name = f"{r.figure} ({r.unit})"
        lines.append(f"{name:<{width}} {cap:>8} {pc:>8} {ratio:>7}  {r.target}")
    lines.append(RATIO_NOTE)
    return "\n".join(lines)


def render_markdown(rows: list[Row]) -> str:
    lines = [
        "| figure | CAP | pipecat 1.14 | CAP / pipecat | CAP target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        lines.append(
            f"| {r.figure} ({r.unit}) | {_fmt(r.cap, r.unit)} | {_fmt(r.pipecat, r.unit)} "
            f"| {ratio} | {r.target} |"
        )
    lines += ["", RATIO_NOTE]
    return "\n".join(lines)


ADDED = "metrics.added_latency_ms"
ADDED_MEASURED = "metrics.added_latency_vs_measured_providers_ms"
OVERSHOOT = "metrics.provider_overshoot_ms"
VOICED = "metrics.barge_in_from_first_voiced_ms"
CONFIRM = "metrics.barge_in_from_vad_confirm_ms"
PLAYOUT = "metrics.breakdown_ms.tts_audio_to_first_frame_out"
CPU = "cpu_ms_per_session_second"
RSS = "rss_per_session_mb"

# (figure, unit, target, CAP step role, pipecat step role, value path)
_STEP_ROWS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("added latency, 1 session, median", "ms", "", "cap_one", "pc_one", f"{ADDED}.median"),
    ("added latency, 1 session, p95", "ms", "<= 2", "cap_one", "pc_one", f"{ADDED}.p95"),
    (
        "added latency vs measured provider time, 1 session, median",
        "ms",
        "",
        "cap_one",
        "pc_one",
        f"{ADDED_MEASURED}.median",
    ),
    (
        "added latency vs measured provider time, 1 session, p95",
        "ms",
        "<= 2",
        "cap_one",
        "pc_one",
        f"{ADDED_MEASURED}.p95",
    ),
    (
        "  fake providers' timer overshoot (measured - 450), 1 session, median",
        "ms",
        "",
        "cap_one",
        "pc_one",
        f"{OVERSHOOT}.median",
    ),
    ("added latency, 10 sessions, median", "ms", "", "cap_10", "pc_10", f"{ADDED}.median"),
    ("added latency, 10 sessions, p95", "ms", "", "cap_10", "pc_10", f"{ADDED}.p95"),
    ("added latency, 100 sessions, median", "ms", "", "cap_load", "pc_load", f"{ADDED}.median"),
    ("added latency, 100 sessions, p95", "ms", "<= 10", "cap_load", "pc_load", f"{ADDED}.p95"),
    (
        "added latency vs measured provider time, 100 sessions, p95",
        "ms",
        "<= 10",
        "cap_load",
        "pc_load",
        f"{ADDED_MEASURED}.p95",
    ),
    (
        "  of which TTS audio -> first frame out, 1 session, median",
        "ms",
        "",
        "cap_one",
        "pc_one",
        f"{PLAYOUT}.median",
    ),
    (
        "barge-in, first voiced -> last frame, 1 session, median",
        "ms",
        "",
        "cap_one",
        "pc_one",
        f"{VOICED}.median",
    ),
    (
        "barge-in, first voiced -> last frame, 1 session, p95",
        "ms",
        "<= 240",
        "cap_one",
        "pc_one",
        f"{VOICED}.p95",
    ),
    (
        "barge-in, first voiced -> last frame, 10 sessions, p95",
        "ms",
        "<= 240",
        "cap_10",
        "pc_10",
        f"{VOICED}.p95",
    ),
    (
        "barge-in, first voiced -> last frame, 100 sessions, p95",
        "ms",
        "<= 240",
        "cap_load",
        "pc_load",
        f"{VOICED}.p95",
    ),
    (
        "barge-in, VAD confirm -> last frame, 1 session, median",
        "ms",
        "",
        "cap_one",
        "pc_one",
        f"{CONFIRM}.median",
    ),
    (
        "barge-in, VAD confirm -> last frame, 1 session, p95",
        "ms",
        "",
        "cap_one",
        "pc_one",
        f"{CONFIRM}.p95",
    ),
    (
        "barge-in p95, Silero per session (CAP 100, pipecat per session 10)",
        "ms",
        "<= 240",
        "cap_silero",
        "pc_silero",
        f"{VOICED}.p95",
    ),
    (
        "barge-in p95, Silero batched in the tick (CAP 100, pipecat per session 10)",
        "ms",
        "<= 240",
        "cap_silero-batch",
        "pc_silero",
        f"{VOICED}.p95",
    ),
    (
        "barge-in p95, Silero worker thread, the default (CAP 100, pipecat per session 10)",
        "ms",
        "<= 240",
        "cap_silero-worker",
        "pc_silero",
        f"{VOICED}.p95",
    ),
    (
        "barge-in p95, Silero worker thread, 1 session (pipecat per session)",
        "ms",
        "<= 240",
        "cap_one_silero-worker",
        "pc_one_silero",
        f"{VOICED}.p95",
    ),
    ("CPU per session, webrtcvad (CAP 100, pipecat 10)", "ms/s", "", "cap_load", "pc_10", CPU),
    (
        "CPU per session, Silero per session (CAP 100, pipecat 10)",
        "ms/s",
        "",
        "cap_silero",
        "pc_silero",
        CPU,
    ),
    (
        "CPU per session, Silero batched in the tick (pipecat per session)",
        "ms/s",
        "",
        "cap_silero-batch",
        "pc_silero",
        CPU,
    ),
    (
        "CPU per session, Silero worker thread (pipecat per session)",
        "ms/s",
        "",
        "cap_silero-worker",
        "pc_silero",
        CPU,
    ),
    ("RSS per live session, webrtcvad, 10 sessions", "MB", "<= 1", "cap_10", "pc_10", RSS),
    ("RSS per live session, webrtcvad, 100 sessions", "MB", "<= 1", "cap_load", "pc_load", RSS),
    (
        "RSS per live session, Silero (CAP 100, pipecat 10)",
        "MB",
        "<= 1",
        "cap_silero",
        "pc_silero",
        RSS,
    ),
)

# (figure, target, CAP search key, pipecat search key)
_CAPACITY_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("real-time sessions per core, webrtcvad", ">= 200", "cap_webrtc", "pc_webrtc"),
    ("real-time sessions per core, Silero per session", ">= 100", "cap_silero", "pc_silero"),
    (
        "real-time sessions per core, Silero batched in the tick (pipecat per session)",
        ">= 100",
        "cap_silero-batch",
        "pc_silero",
    ),
    (
        "real-time sessions per core, Silero worker thread, the default (pipecat per session)",
        ">= 100",
        "cap_silero-worker",
        "pc_silero",
    ),
)


def _answered(result: Result | None) -> float | None:
    expected = stat(result, "metrics.turns_expected")
    missed = stat(result, "metrics.turns_missed")
    if not expected or missed is None:
        return None
    return 100.0 * (expected - missed) / expected


def _capacity_estimate(result: Result | None) -> float | None:
    """Sessions one fully used core could carry at this step's CPU cost per session."""
    cost = stat(result, CPU)
    return None if not cost else 1000.0 / cost


def rows_for(named: dict[str, Result | None], capacity: dict[str, int | None]) -> list[Row]:
    """``named``: step results by role; ``capacity``: search outcomes by key."""
    rows = [
        Row(figure, stat(named.get(cap), path), stat(named.get(pc), path), target, unit)
        for figure, unit, target, cap, pc, path in _STEP_ROWS
    ]
    for label, role in (("1 session", "one"), ("10 sessions", "10"), ("100 sessions", "load")):
        rows.append(
            Row(
                f"turns answered in time, {label}",
                _answered(named.get(f"cap_{role}")),
                _answered(named.get(f"pc_{role}")),
                "100",
                "%",
            )
        )
    for figure, target, cap, pc in _CAPACITY_ROWS:
        rows.append(
            Row(figure, _opt(capacity.get(cap)), _opt(capacity.get(pc)), target, "sessions", True)
        )
    for figure, cap, pc in (
        ("CPU-bound sessions per core, webrtcvad", "cap_load", "pc_10"),
        (
            "CPU-bound sessions per core, Silero batched in the tick",
            "cap_silero-batch",
            "pc_silero",
        ),
        (
            "CPU-bound sessions per core, Silero worker thread",
            "cap_silero-worker",
            "pc_silero",
        ),
    ):
        rows.append(
            Row(
                f"{figure} (1000 / CPU per session)",
                _capacity_estimate(named.get(cap)),
                _capacity_estimate(named.get(pc)),
                "",
                "sessions",
                True,
            )
        )
    return rows


def _opt(value: int | None) -> float | None:
    return None if value is None else float(value)
