"""Voice pipeline benchmark: CAP against pipecat on the same real-time scenario.

    python -m benchmarks.voice_bench --quick     # about 2 minutes, fixed loads
    python -m benchmarks.voice_bench             # full: longer runs, sessions-per-core search
    python -m benchmarks.voice_bench --only 'cap_one,cap_silero*' --one-secs 300
                                                 # a subset of steps (role names below)

Fake providers with fixed latencies (STT final 150 ms after the VAD stop, LLM
first token 200 ms then 10 ms per token, TTS first audio 100 ms), real speech
(espeak-ng) in 20 ms frames paced in real time on uvloop, every step in a fresh
process pinned to one core. Figures (definitions in ``benchmarks/voice/traces.py``):

1. framework-added latency = first agent frame out - VAD stop - 450 ms of providers;
2. barge-in: first voiced user frame -> last agent frame out, and VAD confirm -> last frame;
3. real-time sessions per core: the largest N where the added-latency p95 stays
   under 2x its 1-session value, no turn is missed and no output frame is late;
4. RSS per live session.

pipecat-ai (the ``bench`` extra) runs in its own virtualenv when its pins clash
with ours: ``python -m venv /tmp/pcvenv && /tmp/pcvenv/bin/pip install
'pipecat-ai[silero]' uvloop psutil webrtcvad-wheels`` (or set CAP_PIPECAT_PYTHON).
Results go to ``benchmarks/results/voice.json`` (``voice_quick.json``); nothing is asserted.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.voice.audio import build_cycle
from benchmarks.voice.report import render_markdown, render_text, rows_for
from benchmarks.voice.runner import StepRunner, pipecat_python, search_capacity, verdict
from benchmarks.voice.scenario import Framework, StepSpec, VadKind
from benchmarks.voice.step import engine_version, machine_info

RESULTS = Path(__file__).parent / "results"
LOAD_SESSIONS = 100
SILERO_KINDS: tuple[VadKind, ...] = ("silero", "silero-batch", "silero-worker")


@dataclass(frozen=True, slots=True)
class Plan:
    one_secs: float  # webrtcvad at 1 session: 2 turns per 7.3 s cycle, 400 s -> ~105 turns
    baseline_secs: float  # Silero at 1 session (the real-time criterion's baselines)
    load_secs: float
    step_secs: float
    warmup_secs: float
    search_steps: int  # 0: no sessions-per-core search
    # pipecat at 100 sessions answers no turn in time on one core; quick mode skips it.
    pipecat_at_100: bool


QUICK = Plan(
    one_secs=10,
    baseline_secs=5,
    load_secs=5,
    step_secs=5,
    warmup_secs=2,
    search_steps=0,
    pipecat_at_100=False,
)
FULL = Plan(
    one_secs=400,
    baseline_secs=90,
    load_secs=20,
    step_secs=15,
    warmup_secs=3,
    search_steps=7,
    pipecat_at_100=True,
)


def log(message: str) -> None:
    print(message, flush=True)


def spec(
    plan: Plan, data: Path, framework: Framework, vad: VadKind, *, n: int, secs: float
) -> StepSpec:
    return StepSpec(framework, vad, n, secs, plan.warmup_secs, str(data))


def p95_of(result: dict[str, Any] | None) -> float:
    value = (result or {}).get("metrics", {}).get("added_latency_ms", {}).get("p95")
    return float(value) if value is not None else float("nan")


def wanted(only: list[str] | None, role: str) -> bool:
    """``--only`` filter: shell patterns over step roles and search keys."""
    return only is None or any(fnmatch.fnmatchcase(role, pattern) for pattern in only)


def run(plan: Plan, cpu: int, only: list[str] | None = None) -> dict[str, Any]:
    data = Path(tempfile.gettempdir()) / "cap-voice-bench"
    build_cycle().save(data)
    python = pipecat_python()
    log(f"pipecat interpreter: {python or 'NOT FOUND (pipecat side skipped)'}")
    runner = StepRunner(cpu=cpu, pipecat_python=python, log=log, results=[])
    sides: list[tuple[str, Framework]] = [("cap", "cap")]
    if python:
        sides.append(("pc", "pipecat"))
    named: dict[str, dict[str, Any] | None] = {}

    def step(
        role: str, fw: Framework, vad: VadKind, n: int, secs: float, *, baseline_of: str = ""
    ) -> None:
        # A search's baseline runs whenever the search does.
        if wanted(only, role) or (baseline_of and plan.search_steps and wanted(only, baseline_of)):
            named[role] = runner.run(spec(plan, data, fw, vad, n=n, secs=secs))

    log("1 session, webrtcvad (also the baseline of the real-time criterion):")
    for key, fw in sides:
        step(f"{key}_one", fw, "webrtc", 1, plan.one_secs, baseline_of=f"search_{key}_webrtc")
    log("At load, webrtcvad:")
    for key, fw in sides:
        step(f"{key}_10", fw, "webrtc", 10, plan.load_secs)
        if fw == "cap" or plan.pipecat_at_100:
            step(f"{key}_load", fw, "webrtc", LOAD_SESSIONS, plan.load_secs)
    log("Silero:")
    for vad in SILERO_KINDS:
        step(f"cap_{vad}", "cap", vad, LOAD_SESSIONS, plan.load_secs)
    if python:
        step("pc_silero", "pipecat", "silero", 10, plan.load_secs)
    # The real-time criterion compares with the same configuration at 1 session.
    baselines = {f"{key}_webrtc": p95_of(named.get(f"{key}_one")) for key, _fw in sides}
    if plan.search_steps:
        log("1 session, Silero (baselines):")
        kinds: list[tuple[str, Framework, VadKind]] = [("cap", "cap", v) for v in SILERO_KINDS]
        if python:
            kinds.append(("pc", "pipecat", "silero"))
        for key, fw, vad in kinds:
            step(
                f"{key}_one_{vad}",
                fw,
                vad,
                1,
                plan.baseline_secs,
                baseline_of=f"search_{key}_{vad}",
            )
            baselines[f"{key}_{vad}"] = p95_of(named.get(f"{key}_one_{vad}"))

    capacity: dict[str, int | None] = {}
    searches: list[dict[str, Any]] = []
    if plan.search_steps:
        log("Real-time sessions per core (search):")
        starts: list[tuple[str, Framework, VadKind, int]] = [
            ("cap", "cap", "webrtc", 200),
            ("cap", "cap", "silero", 50),
            ("cap", "cap", "silero-batch", 100),
            ("cap", "cap", "silero-worker", 100),
        ]
        if python:
            starts += [("pc", "pipecat", "webrtc", 8), ("pc", "pipecat", "silero", 8)]
        for key, fw, vad, start in starts:
            if not wanted(only, f"search_{key}_{vad}"):
                continue
            outcome = search_capacity(
                runner,
                spec(plan, data, fw, vad, n=start, secs=plan.step_secs),
                baseline_p95_ms=baselines[f"{key}_{vad}"],
                start=start,
                max_steps=plan.search_steps,
            )
            capacity[f"{key}_{vad}"] = outcome.sessions_per_core
            searches.append({"search": f"{key}_{vad}", "tried": outcome.tried})
            log(f"  {key}/{vad}: {outcome.sessions_per_core} sessions per core")
    checks: dict[str, dict[str, Any]] = {}
    for role, result in named.items():
        if "_one" not in role:
            ok, why = verdict(result or {}, baselines.get(f"{role.split('_')[0]}_webrtc", math.nan))
            checks[role] = {"pass": ok, "why": why}
    rows = rows_for(named, capacity)
    return {
        "machine": machine_info(),
        "engine": engine_version(),
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "pinned_cpu": cpu,
        "pipecat_python": python,
        "baselines_p95_ms": baselines,
        "realtime_checks": checks,
        "sessions_per_core": capacity,
        "searches": searches,
        "table": [asdict(r) | {"ratio": r.ratio} for r in rows],
        "table_text": render_text(rows),
        "table_markdown": render_markdown(rows),
        "steps": runner.results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short mode, about 2 minutes")
    parser.add_argument("--cpu", type=int, default=(os.cpu_count() or 1) - 1, help="core to pin")
    parser.add_argument(
        "--only",
        help="comma-separated shell patterns over step roles (cap_one, pc_one, cap_10, cap_load, "
        "cap_silero, cap_silero-batch, cap_silero-worker, pc_silero, cap_one_silero-worker, ...) "
        "and searches (search_cap_webrtc, search_cap_silero-worker, ...); results then go to "
        "voice_subset.json",
    )
    parser.add_argument("--one-secs", type=float, help="length of the 1-session steps")
    parser.add_argument("--load-secs", type=float, help="length of the 10/100-session steps")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.one_secs:
        plan = replace(plan, one_secs=args.one_secs)
    if args.load_secs:
        plan = replace(plan, load_secs=args.load_secs)
    only = [p.strip() for p in args.only.split(",") if p.strip()] if args.only else None
    started = time.perf_counter()
    report = run(plan, args.cpu, only)
    report["mode"] = ("quick" if args.quick else "full") + (" subset" if only else "")
    report["only"] = only
    report["wall_secs"] = round(time.perf_counter() - started, 1)
    print()
    print(report["table_text"])
    print(f"\n(load average at the end: {report['loadavg_end']}; wall {report['wall_secs']} s)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "voice_subset.json" if only else "voice_quick.json" if args.quick else "voice.json"
    out = RESULTS / name
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
