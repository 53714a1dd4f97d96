"""Cloud adapters against their wire fakes: time to first output, the adapter's
own overhead, time to switch to a fallback, and voice to voice through whole stacks.

The fakes run in their own process (``tests.fakes.serve``, uvloop), pinned to
one core while this process (also uvloop, as ``cap serve`` runs) is pinned to
another, and answer after a fixed ``--latency``. Each fake measures, per
request, how long it held the answer (input fully read -> first byte
written). Per adapter call we report, p50/p95:

* ``ttfb``: call start to the first useful output (token, audio bytes, final
  transcript after ``flush()``);
* ``overhead``: ``ttfb`` minus the nominal latency (counts the fake's timer
  overshoot and CPU too);
* ``hold``: the fake's own measured time;
* ``client``: ``ttfb - hold`` per call: adapter + SDK + HTTP/WebSocket stack +
  loopback. The <= 3 ms p95 target is judged on this (see
  ``benchmarks.providers.report``);
* ``cpu_ttfb`` / ``cpu``: this process's CPU time to first output / in all;
* ``adapter - raw``: against a bare httpx/websockets client on the same fake.

Plus text streamed at LLM pace into socket TTS, fallback switch time per fault
(minus the fallback's measured hold) and voice to voice through two stacks.

    python -m benchmarks.providers_bench [--runs 50] [--latency 0.05]

Prints tables and writes ``benchmarks/results/providers.json``. Numbers are
recorded, never asserted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.fakes when run as a script

from benchmarks.providers.measure import WARMUP  # noqa: E402
from benchmarks.providers.report import judge, report  # noqa: E402
from benchmarks.providers.runner import bench  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "providers.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05, help="fake server latency, s")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.getLogger("pipelines.fallback").setLevel(logging.ERROR)  # failovers are the point
    load_start = [round(x, 2) for x in os.getloadavg()]
    cpus = len(os.sched_getaffinity(0))  # before pin_cores narrows it
    result = uvloop.run(bench(args.runs, args.latency))
    judge(result)
    result["config"] = {
        "runs": args.runs,
        "warmup": WARMUP,
        "server_latency_s": args.latency,
        "loop": "uvloop (client and fakes)",
    }
    result["environment"] = {
        "python": platform.python_version(),
        "cpus": cpus,
        "loadavg_start": load_start,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "sdks": {
            p: version(p) for p in ("openai", "anthropic", "deepgram-sdk", "elevenlabs", "httpx")
        },
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    report(result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
