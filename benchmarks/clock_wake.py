"""CPU per wake-up of the playout clock (``media.clock.PlayoutClock``), on a real loop.

    python -m benchmarks.clock_wake [--secs 5] [--loops asyncio uvloop]
    python -m benchmarks.clock_wake --callgrind [--secs 2]

The clock runs alone for ``--secs`` of real time with 4 phase slots and one
no-op callback in each (4 wake-ups per 20 ms period, as under load). The
process sleeps between wake-ups, so its CPU time (``time.process_time``) over
the run, divided by the wake-ups, is what each costs: the timer, the loop
iteration it takes, the tick. With ``--callgrind`` the run is repeated under
``valgrind --tool=callgrind`` for ``--secs`` and for half as long, and the
difference in instructions is divided by the difference in wake-ups
(instruction counts: independent of the machine's load; under valgrind the
clock falls behind and skips, which changes the count of wake-ups, not their
cost). ``virtual`` is asyncio's loop on a virtual clock that never sleeps:
the same work per wake-up, and an instruction count that depends only on the
run's length (it runs 10 times ``--secs``, in virtual time; the real loops'
counts carry a few thousand instructions of start-up noise per wake-up). Figures are printed
and written to ``benchmarks/results/clock_wake.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

# Callgrind runs with a fixed hash seed: no run-to-run difference in dict layouts.
_FIXED_HASH = {**os.environ, "PYTHONHASHSEED": "0"}
ROOT = Path(__file__).resolve().parents[1]
SLOTS = 4
LOOPS = ("asyncio", "uvloop", "virtual")


async def _run(secs: float) -> dict[str, float]:
    from media.clock import PlayoutClock

    clock = PlayoutClock(slots=SLOTS)
    wakes = [0]

    def tick(when: float) -> None:
        wakes[0] += 1

    for slot in range(SLOTS):
        clock.register(tick, slot=slot)
    # As ``cap serve`` does: the start-up's objects leave the collector's view,
    # so a full collection within the run does not scan the imported modules.
    gc.collect()
    gc.freeze()
    t0 = time.process_time()
    await clock.start()
    await asyncio.sleep(secs)
    await clock.aclose()
    cpu = time.process_time() - t0
    return {"wakes": wakes[0], "cpu_s": cpu, "late_ticks": clock.late_ticks}


class _VirtualSelector(selectors.DefaultSelector):
    """Never sleeps: a wait of ``timeout`` seconds moves the loop's clock instead."""

    def __init__(self, now: list[float]) -> None:
        super().__init__()
        self._now = now

    def select(self, timeout: float | None = None) -> Any:
        if timeout is not None and timeout > 0:
            self._now[0] += timeout
        return super().select(0)


class _VirtualTimeLoop(asyncio.SelectorEventLoop):
    """asyncio's own loop on a virtual clock: the same work per wake-up, no sleeping,
    so a run's instruction count depends only on its (virtual) length."""

    def __init__(self) -> None:
        self._now = [1000.0]
        super().__init__(_VirtualSelector(self._now))

    def time(self) -> float:
        return self._now[0]


def run(loop: str, secs: float) -> dict[str, float]:
    if loop == "virtual":
        virtual = _VirtualTimeLoop()
        try:
            return virtual.run_until_complete(_run(secs))
        finally:
            virtual.close()
    if loop == "uvloop":
        import uvloop

        return uvloop.run(_run(secs))
    return asyncio.run(_run(secs))


def _run_counted(loop: str, secs: float) -> dict[str, float]:
    """``run`` inside C's ``consume_iterator``: under callgrind only that is counted
    (``--toggle-collect``), so the interpreter's start-up and exit add no noise."""
    results: list[dict[str, float]] = []
    deque(map(lambda _: results.append(run(loop, secs)), range(1)), maxlen=0)
    return results[0]


def _instructions(loop: str, secs: float) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            "--toggle-collect=consume_iterator",
            sys.executable, "-m", "benchmarks.clock_wake", "--inner", loop, "--secs", str(secs),
        ]  # fmt: skip
        done = subprocess.run(
            cmd, cwd=ROOT, env=_FIXED_HASH, check=True, capture_output=True, text=True
        )
        summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
        if summary is None:
            raise RuntimeError("no summary line in the callgrind output")
        wakes = int(json.loads(done.stdout.strip().splitlines()[-1])["wakes"])
        return int(summary.group(1)), wakes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secs", type=float, default=None)
    parser.add_argument("--loops", nargs="+", choices=LOOPS, default=None)
    parser.add_argument("--callgrind", action="store_true", help="instruction counts per wake")
    parser.add_argument("--inner", choices=LOOPS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/clock_wake.json")
    args = parser.parse_args()
    loops = args.loops or list(LOOPS)
    if args.inner:  # one run under valgrind
        print(json.dumps(_run_counted(args.inner, args.secs)))
        return
    result: dict[str, Any] = {
        "benchmark": "playout clock, CPU per wake-up (4 slots, one no-op callback each)",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average": os.getloadavg(),
    }
    if args.callgrind:
        secs = args.secs or 2.0
        result["method"] = "callgrind Ir: (run of secs - run of secs/2) / wake-up difference"
        per_wake: dict[str, Any] = {}
        for loop in loops:
            # Virtual time is cheap: a long run dilutes the start-up's noise.
            run_secs = secs * 10 if loop == "virtual" else secs
            (ir_long, wakes_long), (ir_short, wakes_short) = (
                _instructions(loop, run_secs),
                _instructions(loop, run_secs / 2),
            )
            per_wake[loop] = {
                "instructions_per_wake": round((ir_long - ir_short) / (wakes_long - wakes_short)),
                "wakes": [wakes_short, wakes_long],
            }
        result["secs"] = secs
        result["per_wake"] = per_wake
        out = args.out.with_name(args.out.stem + "_callgrind.json")
    else:
        secs = args.secs or 5.0
        result["method"] = "time.process_time over the run / wake-ups"
        result["secs"] = secs
        result["per_wake"] = {}
        for loop in loops:
            figures = run(loop, secs)
            result["per_wake"][loop] = {
                "us_per_wake": round(figures["cpu_s"] / figures["wakes"] * 1e6, 2),
                "wakes": figures["wakes"],
                "late_ticks": figures["late_ticks"],
            }
        out = args.out
    print(json.dumps(result, indent=1))
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
