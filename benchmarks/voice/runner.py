"""Launches step processes (one core each) and searches for sessions per core.

Each step is a fresh process: an earlier step's heap, garbage or allocator
high-water mark cannot flatter or hurt the next one, and RSS deltas are clean.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.voice.scenario import Framework, StepSpec
from benchmarks.voice.step import RESULT_PREFIX

REPO = Path(__file__).resolve().parents[2]
PIPECAT_SCRIPT = REPO / "benchmarks" / "pipecat_bench.py"
DEFAULT_PIPECAT_PYTHON = "/tmp/pcvenv/bin/python"
# Startup, model loading and opening sessions come on top of the step's own time.
STEP_TIMEOUT_MARGIN_SECS = 180.0
# Search stops when the bracket is this tight (relative to the passing N).
SEARCH_RESOLUTION = 0.1

Log = Callable[[str], None]


def pipecat_python() -> str | None:
    """The interpreter that has pipecat-ai: ``CAP_PIPECAT_PYTHON``, the bench venv, or ours."""
    candidates = [os.environ.get("CAP_PIPECAT_PYTHON", ""), DEFAULT_PIPECAT_PYTHON, sys.executable]
    for python in candidates:
        if python and Path(python).exists():
            probe = subprocess.run(
                [python, "-c", "import pipecat"], capture_output=True, timeout=120, check=False
            )
            if probe.returncode == 0:
                return python
    return None


@dataclass
class StepRunner:
    cpu: int
    pipecat_python: str | None
    log: Log
    results: list[dict[str, Any]]

    def command(self, spec: StepSpec) -> list[str]:
        if spec.framework == "cap":
            cmd = [sys.executable, "-m", "benchmarks.voice.cap_run", spec.to_json()]
        else:
            if self.pipecat_python is None:
                raise RuntimeError("pipecat-ai is not installed")
            cmd = [self.pipecat_python, str(PIPECAT_SCRIPT), spec.to_json()]
        if shutil.which("taskset"):
            return ["taskset", "-c", str(self.cpu), *cmd]
        return cmd

    def run(self, spec: StepSpec) -> dict[str, Any]:
        label = f"{spec.framework}/{spec.vad} x{spec.sessions} ({spec.duration_secs:g}s)"
        self.log(f"  step {label} ...")
        try:
            done = subprocess.run(
                self.command(spec),
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=spec.warmup_secs + spec.duration_secs + STEP_TIMEOUT_MARGIN_SECS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            result: dict[str, Any] = {"spec": json.loads(spec.to_json()), "error": "timeout"}
            self.results.append(result)
            self.log(f"    {label}: TIMEOUT")
            return result
        lines = [x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
        if not lines:
            tail = done.stderr.strip().splitlines()[-15:]
            result = {"spec": json.loads(spec.to_json()), "error": "\n".join(tail)}
        else:
            result = json.loads(lines[-1][len(RESULT_PREFIX) :])
        self.results.append(result)
        self.log(f"    {describe(result)}")
        return result


def describe(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR: {result['error'][-300:]}"
    m = result["metrics"]
    added = m["added_latency_ms"]
    measured = m.get("added_latency_vs_measured_providers_ms", {})
    barge = m.get("barge_in_from_first_voiced_ms", {})
    fw = result.get("framework", {})
    return (
        f"added p50 {added.get('median', '-')} p95 {added.get('p95', '-')} ms "
        f"(n={added.get('n', 0)}; vs measured providers p50 {measured.get('median', '-')} "
        f"p95 {measured.get('p95', '-')}), barge-in p95 {barge.get('p95', '-')} ms, "
        f"missed {m['turns_missed']}/{m['turns_expected']}, "
        f"late frames {m['frames_late']}/{m['frames_out']}"
        + (f", late ticks {fw['clock_late_ticks']}" if "clock_late_ticks" in fw else "")
        + f", cpu {result['cpu_utilisation']:.0%}, rss/session {result['rss_per_session_mb']} MB"
        + f", load {result['loadavg_before'][0]}"
    )


def verdict(result: dict[str, Any], baseline_p95_ms: float) -> tuple[bool, str]:
    """Real time at this N: latency p95 under 2x baseline, no missed turn, no late frame."""
    if "error" in result:
        return False, "error"
    m = result["metrics"]
    p95 = m["added_latency_ms"].get("p95")
    reasons = []
    if m["turns_expected"] == 0 or p95 is None:
        reasons.append("no turns measured")
    elif p95 >= 2 * baseline_p95_ms:
        reasons.append(f"p95 {p95} >= 2x{baseline_p95_ms}")
    if m["turns_missed"]:
        reasons.append(f"{m['turns_missed']} turns missed")
    if m["frames_late"]:
        reasons.append(f"{m['frames_late']} late frames")
    late_ticks = result.get("framework", {}).get("clock_late_ticks", 0)
    if late_ticks:
        reasons.append(f"{late_ticks} late clock ticks")
    return not reasons, "; ".join(reasons) or "ok"


@dataclass
class SearchOutcome:
    framework: Framework
    vad: str
    sessions_per_core: int
    tried: list[dict[str, Any]]


def search_capacity(
    runner: StepRunner,
    base: StepSpec,
    *,
    baseline_p95_ms: float,
    start: int,
    max_steps: int,
    confirm_failures: bool = True,
) -> SearchOutcome:
    """Doubling from ``start`` until a step fails, then bisection; ``max_steps`` bounds it.

    A failing step is run once more and counts as failed only if it fails again.
    """
    passed, failed = 0, 0
    n = start
    tried: list[dict[str, Any]] = []
    for _ in range(max_steps):
        result = runner.run(replace(base, sessions=n))
        ok, why = verdict(result, baseline_p95_ms)
        runner.log(f"    -> {'PASS' if ok else 'FAIL'} ({why})")
        if not ok and confirm_failures:
            # On a shared machine one stall from another process fails a step;
            # a real overload fails again.
            again = runner.run(replace(base, sessions=n))
            ok, second = verdict(again, baseline_p95_ms)
            why = f"{why}; retry: {second}"
            runner.log(f"    -> retry {'PASS' if ok else 'FAIL'} ({second})")
        tried.append({"sessions": n, "pass": ok, "why": why})
        if ok:
            passed = max(passed, n)
        else:
            failed = n if not failed else min(failed, n)
        if failed and failed - passed <= max(1, round(passed * SEARCH_RESOLUTION)):
            break
        if not failed:
            n *= 2
        else:
            n = (passed + failed) // 2 if passed else max(1, failed // 2)
            if n in (passed, failed):
                break
    return SearchOutcome(base.framework, base.vad, passed, tried)
