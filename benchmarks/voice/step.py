"""Runs one measured step in this process and prints its result as one JSON line.

Standard library (and psutil) only; a framework plugs in through ``Harness``.
The flow is the same for every framework:

1. ``setup`` (load models), then RSS baseline;
2. open N sessions, start the real-time feeder;
3. after ``warmup_secs``: RSS with N live sessions, start the measurement window;
4. at the end: analyse the traces over the window, print, exit.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psutil

from benchmarks.voice.feeder import Feeder, LagMonitor, PushFn, callers_for
from benchmarks.voice.scenario import FRAME_SECS, Cycle, StepSpec
from benchmarks.voice.traces import SessionTrace, analyse

RESULT_PREFIX = "STEP-RESULT "
# The collector thresholds ``cap serve`` sets (control_plane/cli.py), so that a
# step runs under the same collector as the product. Kept in step with it by hand:
# this module must not import the control plane (the pipecat side imports it).
SERVE_GC_THRESHOLDS = (700, 10, 10)
# What a voice step exercises: the engine modules, the media core and the fakes.
ENGINE_PATHS = (":(glob)pipelines/*.py", "pipelines/providers/fake.py", "media")


class Harness(Protocol):
    async def setup(self) -> None: ...

    async def open_session(self, trace: SessionTrace) -> PushFn: ...

    def begin_window(self) -> None: ...

    def stats(self) -> dict[str, Any]: ...


def machine_info() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def engine_version() -> dict[str, Any]:
    """The commit measured, and whether the engine's files differ from it."""
    repo = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "engine_modified": bool(git("status", "--porcelain", "--", *ENGINE_PATHS)),
    }


class GcWatch:
    """The collector's passes per generation: how many, and how long each held the loop.

    Wall time (``perf_counter``) is what a frame waiting behind the pass sees;
    CPU time (``thread_time``) is the pass's own cost, unaffected by other
    processes preempting this one on a shared machine.
    """

    def __init__(self) -> None:
        self._started = (0.0, 0.0)
        self.reset()

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = (time.perf_counter(), time.thread_time())
            return
        gen = info["generation"]
        wall = time.perf_counter() - self._started[0]
        cpu = time.thread_time() - self._started[1]
        self.passes[gen] += 1
        self.wall[gen] += wall
        self.cpu[gen] += cpu
        self.worst_wall[gen] = max(self.worst_wall[gen], wall)
        self.worst_cpu[gen] = max(self.worst_cpu[gen], cpu)

    def reset(self) -> None:
        self.passes = [0, 0, 0]
        self.wall = [0.0, 0.0, 0.0]
        self.cpu = [0.0, 0.0, 0.0]
        self.worst_wall = [0.0, 0.0, 0.0]
        self.worst_cpu = [0.0, 0.0, 0.0]

    def report(self) -> dict[str, Any]:
        return {
            f"gen{g}": {
                "passes": self.passes[g],
                "wall_total_ms": round(self.wall[g] * 1000, 2),
                "wall_max_ms": round(self.worst_wall[g] * 1000, 2),
                "cpu_total_ms": round(self.cpu[g] * 1000, 2),
                "cpu_max_ms": round(self.worst_cpu[g] * 1000, 2),
            }
            for g in range(3)
        } | {"thresholds": list(gc.get_threshold()), "enabled": gc.isenabled()}


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _runqueue_wait_secs() -> float:
    """Time this process's threads spent runnable but not running (other load on the core)."""
    total = 0
    for stat in Path("/proc/self/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


async def run_step(spec: StepSpec, harness: Harness) -> dict[str, Any]:
    cycle = Cycle.load(Path(spec.data_dir))
    load_before = os.getloadavg()
    await harness.setup()
    # As ``cap serve`` does: start-up objects (modules, models) leave the
    # collector's full passes, and the thresholds are those it sets. Applied
    # to both frameworks alike.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVE_GC_THRESHOLDS)
    gc_watch = GcWatch()
    gc.callbacks.append(gc_watch)
    rss_base = _rss()
    traces = [SessionTrace() for _ in range(spec.sessions)]
    opened = time.perf_counter()
    pushes = [await harness.open_session(t) for t in traces]
    open_secs = time.perf_counter() - opened
    feeder = Feeder(cycle, callers_for(pushes, traces, cycle, spec.seed))
    monitor = LagMonitor()
    monitor.start()
    feed = asyncio.get_running_loop().create_task(feeder.run(spec.warmup_secs + spec.duration_secs))
    await asyncio.sleep(spec.warmup_secs)
    rss_live = _rss()
    harness.begin_window()
    monitor.reset()
    gc_watch.reset()
    lo = time.perf_counter()
    pushed_before = feeder.frames_pushed
    cpu_before = time.process_time()
    waited_before = _runqueue_wait_secs()
    await feed
    hi = time.perf_counter()
    cpu = time.process_time() - cpu_before
    waited = _runqueue_wait_secs() - waited_before
    # Audio actually fed in the window: an overloaded step feeds less, so the
    # CPU cost per session-second stays a cost, not a share of a starved core.
    fed_secs = (feeder.frames_pushed - pushed_before) * FRAME_SECS
    lag = monitor.stop()
    gc.callbacks.remove(gc_watch)
    # Objects the collector tracks, beyond the frozen start-up set: what a full pass walks.
    tracked = len(gc.get_objects())
    rss_end = _rss()
    n = max(1, spec.sessions)
    return {
        "spec": json.loads(spec.to_json()),
        "machine": machine_info(),
        "engine": engine_version(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "open_secs": round(open_secs, 3),
        "window_secs": round(hi - lo, 3),
        "cpu_utilisation": round(cpu / max(1e-9, hi - lo), 3),
        "cpu_ms_per_session_second": round(cpu * 1000 / max(1e-9, fed_secs), 4),
        # Share of the window spent waiting for the core while runnable: how much
        # other processes on the machine disturbed this step (0 on a quiet core).
        "runqueue_wait_fraction": round(waited / max(1e-9, hi - lo), 3),
        "rss_base_mb": round(rss_base / 2**20, 2),
        "rss_per_session_mb": round((rss_live - rss_base) / n / 2**20, 4),
        "rss_per_session_end_mb": round((rss_end - rss_base) / n / 2**20, 4),
        "loop_lag": lag,
        "feeder_max_lag_ms": round(feeder.max_lag * 1000, 2),
        "gc": gc_watch.report() | {"tracked_objects_per_session": round(tracked / n)},
        "framework": harness.stats(),
        "metrics": analyse(traces, lo, hi),
    }


def main(make_harness: Callable[[StepSpec], Harness], argv: list[str] | None = None) -> None:
    """Entry point of a step process: ``<spec json>`` in, one result line out."""
    args = sys.argv[1:] if argv is None else argv
    spec = StepSpec.from_json(args[0])
    import uvloop

    async def run_and_exit() -> None:
        result = await run_step(spec, make_harness(spec))
        sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
        sys.stdout.flush()
        # Tearing down hundreds of sessions tells us nothing and can take long
        # (pipecat's tasks do not all end on cancellation): leave from here.
        os._exit(0)

    uvloop.run(run_and_exit())
