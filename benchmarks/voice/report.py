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


def _pair(
    named: dict[str, Result | None], role: str, path: str
) -> tuple[float | None, float | None]:
    return stat(named.get(f"cap_{role}"), path), stat(named.get(f"pc_{role}"), path)


def _capacity_estimate(result: Result | None) -> float | None:
    """Sessions one fully used core could carry at this step's CPU cost per session."""
    cost = stat(result, "cpu_ms_per_session_second")
    return None if not cost else 1000.0 / cost


def rows_for(named: dict[str, Result | None], capacity: dict[str, int | None]) -> list[Row]:
    """``named``: step results by role, ``cap_<role>`` and ``pc_<role>``.

    Roles: ``one`` (1 session), ``10``, ``load`` (100 sessions), ``silero``
    (CAP at 100, pipecat at 10) and ``silero-batch`` (CAP only); all webrtcvad
    unless named after Silero.
    """
    added = "metrics.added_latency_ms"
    voiced = "metrics.barge_in_from_first_voiced_ms"
    confirm = "metrics.barge_in_from_vad_confirm_ms"
    playout = "metrics.breakdown_ms.tts_audio_to_first_frame_out"
    rows: list[Row] = []

    def row(figure: str, pair: tuple[float | None, float | None], target: str, unit: str) -> None:
        rows.append(Row(figure, pair[0], pair[1], target, unit, unit == "sessions"))

    for role, label, target in (
        ("one", "1 session", "<= 2"),
        ("10", "10 sessions", ""),
        ("load", "100 sessions", "<= 10"),
    ):
        row(f"added latency, {label}, median", _pair(named, role, f"{added}.median"), "", "ms")
        row(f"added latency, {label}, p95", _pair(named, role, f"{added}.p95"), target, "ms")
    row(
        "  of which TTS audio -> first frame out, 1 session, median",
        _pair(named, "one", f"{playout}.median"),
        "",
        "ms",
    )
    for role, label in (("one", "1 session"), ("10", "10 sessions"), ("load", "100 sessions")):
        answered = [
            None if e is None or not e else 100.0 * (e - (m or 0.0)) / e
            for e, m in zip(
                _pair(named, role, "metrics.turns_expected"),
                _pair(named, role, "metrics.turns_missed"),
                strict=True,
            )
        ]
        row(f"turns answered in time, {label}", (answered[0], answered[1]), "100", "%")
    row(
        "barge-in, first voiced -> last frame, 1 session, median",
        _pair(named, "one", f"{voiced}.median"),
        "",
        "ms",
    )
    row(
        "barge-in, first voiced -> last frame, 1 session, p95",
        _pair(named, "one", f"{voiced}.p95"),
        "<= 240",
        "ms",
    )
    row(
        "barge-in, first voiced -> last frame, 10 sessions, p95",
        _pair(named, "10", f"{voiced}.p95"),
        "<= 240",
        "ms",
    )
    row(
        "barge-in, first voiced -> last frame, 100 sessions, p95",
        _pair(named, "load", f"{voiced}.p95"),
        "<= 240",
        "ms",
    )
    row(
        "barge-in, VAD confirm -> last frame, 1 session, median",
        _pair(named, "one", f"{confirm}.median"),
        "",
        "ms",
    )
    row(
        "barge-in, VAD confirm -> last frame, 1 session, p95",
        _pair(named, "one", f"{confirm}.p95"),
        "",
        "ms",
    )
    row(
        "real-time sessions per core, webrtcvad",
        (_opt(capacity.get("cap_webrtc")), _opt(capacity.get("pc_webrtc"))),
        ">= 200",
        "sessions",
    )
    row(
        "real-time sessions per core, Silero per session",
        (_opt(capacity.get("cap_silero")), _opt(capacity.get("pc_silero"))),
        ">= 100",
        "sessions",
    )
    row(
        "real-time sessions per core, Silero batched (pipecat: per session)",
        (_opt(capacity.get("cap_silero-batch")), _opt(capacity.get("pc_silero"))),
        ">= 100",
        "sessions",
    )
    row(
        "CPU per session, webrtcvad (CAP at 100, pipecat at 10)",
        (
            stat(named.get("cap_load"), "cpu_ms_per_session_second"),
            stat(named.get("pc_10"), "cpu_ms_per_session_second"),
        ),
        "",
        "ms/s",
    )
    row(
        "CPU per session, Silero (CAP at 100, pipecat at 10)",
        _pair(named, "silero", "cpu_ms_per_session_second"),
        "",
        "ms/s",
    )
    row(
        "CPU per session, Silero batched (pipecat: per session)",
        (
            stat(named.get("cap_silero-batch"), "cpu_ms_per_session_second"),
            stat(named.get("pc_silero"), "cpu_ms_per_session_second"),
        ),
        "",
        "ms/s",
    )
    row(
        "CPU-bound sessions per core, webrtcvad (1000 / CPU per session)",
        (_capacity_estimate(named.get("cap_load")), _capacity_estimate(named.get("pc_10"))),
        ">= 200",
        "sessions",
    )
    row(
        "CPU-bound sessions per core, Silero batched (pipecat: per session)",
        (
            _capacity_estimate(named.get("cap_silero-batch")),
            _capacity_estimate(named.get("pc_silero")),
        ),
        ">= 100",
        "sessions",
    )
    row(
        "RSS per live session, webrtcvad, 10 sessions",
        _pair(named, "10", "rss_per_session_mb"),
        "<= 1",
        "MB",
    )
    row(
        "RSS per live session, webrtcvad, 100 sessions",
        _pair(named, "load", "rss_per_session_mb"),
        "<= 1",
        "MB",
    )
    row(
        "RSS per live session, Silero (CAP at 100, pipecat at 10)",
        _pair(named, "silero", "rss_per_session_mb"),
        "<= 1",
        "MB",
    )
    return rows


def _opt(value: int | None) -> float | None:
    return None if value is None else float(value)
