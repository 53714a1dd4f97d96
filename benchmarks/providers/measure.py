"""Samples, percentiles and the wrapper that times one call.

A sample is one call's time to first output (wall clock), the fake's own
measured hold time for that call (input fully read -> first byte written, in
the fake's process), and this process's CPU time to first output and in all.
``ttfb - hold`` is the client's side: adapter + SDK + HTTP/WebSocket stack +
loopback (and the fake's HTTP parsing/writing around its hold).
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

WARMUP = 5
NAN = float("nan")


class Sample(NamedTuple):
    ttfb: float
    hold: float  # the fake's measured hold; NAN when it has none
    cpu_ttfb: float
    cpu: float


# t0, first output (perf_counter), this process's CPU time from t0 to first output
Call = Callable[[], Awaitable[tuple[float, float, float]]]
Runner = Callable[[], Awaitable[Sample]]
Hold = Callable[[], Awaitable[float]]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(x: float) -> float:
    return round(x * 1000, 2)


async def measure(run: Runner, runs: int) -> list[Sample]:
    """``runs`` samples after ``WARMUP`` calls; the heap frozen first, as ``cap serve``
    does (a full GC pass over the loaded SDKs takes ~0.2-0.3 s on this machine)."""
    for _ in range(WARMUP):
        await run()
    gc.collect()
    gc.freeze()
    return [await run() for _ in range(runs)]


def now() -> tuple[float, float]:
    """Wall clock and this process's CPU clock, read together at a call's t0."""
    return time.perf_counter(), time.process_time()


def timed(call: Call, hold: Hold) -> Runner:
    """Wraps ``call`` with the fake's hold time for it and this process's CPU time."""

    async def run() -> Sample:
        cpu0 = time.process_time()
        t0, first, cpu_ttfb = await call()
        cpu = time.process_time() - cpu0
        return Sample(first - t0, await hold(), cpu_ttfb, cpu)

    return run


async def no_hold() -> float:
    return NAN


def summary(samples: list[Sample], nominal: float) -> dict[str, float]:
    """p50/p95 of each figure; ``client`` is per call ``ttfb - hold``.

    ``overhead`` is TTFB minus the fake's nominal latency (``nominal``), the
    figure before the fakes measured their hold: it also counts the fake's
    timer overshoot and its own CPU.
    """
    ttfb = [s.ttfb for s in samples]
    columns = {
        "ttfb": ttfb,
        "overhead": [t - nominal for t in ttfb],
        "hold": [s.hold for s in samples],
        "client": [s.ttfb - s.hold for s in samples],
        "cpu_ttfb": [s.cpu_ttfb for s in samples],
        "cpu": [s.cpu for s in samples],
    }
    out: dict[str, float] = {}
    for label, values in columns.items():
        if any(math.isnan(v) for v in values):
            continue  # no hold measured for this row
        for name, q in (("p50", 0.5), ("p95", 0.95)):
            out[f"{label}_{name}_ms"] = ms(pct(values, q))
    return out
