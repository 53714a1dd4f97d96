"""Real-time audio arrival for many sessions, and the health of the event loop.

Standard library only. Frames arrive like network packets: every session gets
one 20 ms frame per period, on absolute deadlines, with sessions spread over
``groups`` phases of the period (real callers are not in lockstep). A group
that wakes late pushes late, as a network stack would after a stall.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from benchmarks.voice.scenario import FRAME_SECS, Cycle
from benchmarks.voice.traces import SessionTrace, percentile

PushFn = Callable[[bytes], "Awaitable[None] | None"]

MAX_GROUPS = 20


@dataclass
class Caller:
    """One simulated caller: where it is in the cycle, where its frames go."""

    push: PushFn
    trace: SessionTrace
    offset: int  # cycle frame the caller starts at


def callers_for(
    pushes: Sequence[PushFn], traces: Sequence[SessionTrace], cycle: Cycle, seed: int
) -> list[Caller]:
    """Callers with random start points in the cycle, so turns do not line up."""
    rng = random.Random(seed)
    n = len(cycle.frames)
    return [Caller(p, t, rng.randrange(n)) for p, t in zip(pushes, traces, strict=True)]


class Feeder:
    def __init__(self, cycle: Cycle, callers: Sequence[Caller]) -> None:
        self._cycle = cycle
        self._callers = list(callers)
        self._starts = {u.first_frame: u for u in cycle.utterances}
        self._ends = {u.last_frame: u for u in cycle.utterances}
        self.max_lag = 0.0
        self.frames_pushed = 0

    async def run(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        groups = max(1, min(MAX_GROUPS, len(self._callers)))
        origin = loop.time() + FRAME_SECS
        stop_at = origin + seconds
        members = [self._callers[g::groups] for g in range(groups)]
        await asyncio.gather(
            *(
                self._group(members[g], origin + g * FRAME_SECS / groups, stop_at)
                for g in range(groups)
            )
        )

    async def _group(self, callers: list[Caller], origin: float, stop_at: float) -> None:
        loop = asyncio.get_running_loop()
        frames = self._cycle.frames
        n = len(frames)
        asynchronous = bool(callers) and inspect.iscoroutinefunction(callers[0].push)
        k = 0
        while True:
            deadline = origin + k * FRAME_SECS
            if deadline >= stop_at:
                return
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                # Behind: still let everything else run between batches, as a
                # socket's readiness callbacks would; never spin on the backlog.
                self.max_lag = max(self.max_lag, -delay)
                await asyncio.sleep(0)
            for caller in callers:
                index = (k + caller.offset) % n
                now = time.perf_counter()
                if asynchronous:
                    await caller.push(frames[index])  # type: ignore[misc]
                else:
                    caller.push(frames[index])
                if index in self._starts:
                    u = self._starts[index]
                    caller.trace.utterance_starts.append((u.label, u.barge_in, now))
                if index in self._ends:
                    caller.trace.utterance_ends.append((self._ends[index].label, now))
            self.frames_pushed += len(callers)
            k += 1


class LagMonitor:
    """How late the event loop wakes a 10 ms timer: the loop's own health."""

    PERIOD = 0.01

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.PERIOD)
            self.lags.append(time.perf_counter() - before - self.PERIOD)

    def reset(self) -> None:
        self.lags.clear()

    def stop(self) -> dict[str, float]:
        if self._task:
            self._task.cancel()
        if not self.lags:
            return {}
        return {
            "p50_ms": round(percentile(self.lags, 0.5) * 1000, 2),
            "p99_ms": round(percentile(self.lags, 0.99) * 1000, 2),
            "max_ms": round(max(self.lags) * 1000, 2),
        }
