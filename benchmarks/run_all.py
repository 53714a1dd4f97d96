"""Every benchmark in ``benchmarks/README.md``, one after another: what ``make bench`` runs.

    python -m benchmarks.run_all            # everything at full length (hours)
    python -m benchmarks.run_all --quick    # --quick where a benchmark has one
    python -m benchmarks.run_all --only media_micro twilio_edge
    python -m benchmarks.run_all --list

Each benchmark runs as its own child process (most pin themselves or their
children to CPUs, and some start servers), with its own defaults and its
usual output; ``--quick`` is passed only to those that have it, the others
run as they are (their lines in ``--list`` say so). After each one, the
result files it wrote (``benchmarks/results/`` files changed while it ran)
are printed; at the end, a summary of every benchmark's outcome. A failed
benchmark does not stop the others; the exit status is 1 if any failed.
Nothing here judges a figure: each benchmark prints its own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    module: str
    has_quick: bool
    about: str


# Short ones first, so a broken environment shows early.
BENCHMARKS = (
    Benchmark("media_micro", "benchmarks.media_micro", True, "codec/resampler/VAD micro-costs"),
    Benchmark("twilio_edge", "benchmarks.twilio.edge_cpu", False, "CPU per Twilio media message"),
    Benchmark("twilio_ws", "benchmarks.twilio.ws_stacks", False, "WebSocket stacks, ~1 min"),
    Benchmark("api", "benchmarks.api_bench", True, "control-plane API (PostgreSQL if up)"),
    Benchmark("providers", "benchmarks.providers_bench", False, "provider adapters, ~8 min"),
    Benchmark("twilio", "benchmarks.twilio_bench", False, "Twilio calls per core, ~4+ min"),
    Benchmark("voice", "benchmarks.voice_bench", True, "CAP vs pipecat, ~45 min (~2 quick)"),
    Benchmark("rag", "benchmarks.rag_bench", False, "knowledge store, the longest"),
)


def _snapshot() -> dict[Path, float]:
    if not RESULTS.is_dir():
        return {}
    return {p: p.stat().st_mtime for p in RESULTS.iterdir() if p.is_file()}


def run(bench: Benchmark, quick: bool) -> tuple[int, float, list[Path]]:
    """Run one benchmark; its exit status, wall seconds and the result files it wrote."""
    args = [sys.executable, "-m", bench.module]
    if quick and bench.has_quick:
        args.append("--quick")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    before = _snapshot()
    t0 = time.monotonic()
    print(f"\n=== {bench.name}: {' '.join(args[1:])}", flush=True)
    status = subprocess.run(args, cwd=ROOT, env=env, check=False).returncode
    secs = time.monotonic() - t0
    written = sorted(p for p, mtime in _snapshot().items() if before.get(p) != mtime)
    return status, secs, written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="--quick where a benchmark has one")
    names = [b.name for b in BENCHMARKS]
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME", help=", ".join(names))
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for b in BENCHMARKS:
            quick = "--quick" if b.has_quick else "no --quick"
            print(f"{b.name:12s} python -m {b.module:32s} {quick:10s}  {b.about}")
        return 0
    chosen = [b for b in BENCHMARKS if not args.only or b.name in args.only]
    outcomes: list[tuple[str, int, float, list[Path]]] = []
    for bench in chosen:
        status, secs, written = run(bench, args.quick)
        outcomes.append((bench.name, status, secs, written))
        for path in written:
            print(f"--- {bench.name} wrote {path.relative_to(ROOT)}", flush=True)
        if status:
            print(f"--- {bench.name} FAILED (exit status {status})", flush=True)
    print("\nsummary:")
    for name, status, secs, written in outcomes:
        files = ", ".join(str(p.relative_to(ROOT)) for p in written) or "no result file"
        state = "ok" if status == 0 else f"FAILED ({status})"
        print(f"  {name:12s} {state:12s} {secs / 60:6.1f} min  {files}")
    return 1 if any(status for _, status, _, _ in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
