from __future__ import annotations

import asyncio
import itertools
import logging
import selectors
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from media.clock import PlayoutClock

PERIOD = 0.02


class _VirtualSelector(selectors.DefaultSelector):
    """Never blocks: a wait of ``timeout`` seconds advances the loop's virtual clock."""

    def __init__(self, loop_time: list[float]) -> None:
        super().__init__()
        self._time = loop_time

    def select(self, timeout: float | None = None) -> Any:
        if timeout is None:
            raise RuntimeError("virtual loop would block forever: nothing scheduled")
        if timeout > 0:
            self._time[0] += timeout
        return super().select(0)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock only moves when the loop would otherwise sleep.

    ``advance`` moves it by hand, which is how a test simulates a callback that
    hogs the CPU.
    """

    def __init__(self) -> None:
        self._now = [1000.0]
        super().__init__(_VirtualSelector(self._now))

    def time(self) -> float:
        return self._now[0]

    def advance(self, seconds: float) -> None:
        self._now[0] += seconds


@pytest.fixture
def virtual_loop() -> Iterator[VirtualTimeLoop]:
    loop = VirtualTimeLoop()
    try:
        yield loop
    finally:
        loop.close()


def run(loop: VirtualTimeLoop, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    loop.run_until_complete(body())


async def run_for(clock: PlayoutClock, seconds: float) -> None:
    await clock.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        await clock.aclose()


def test_ticks_every_period_with_absolute_deadlines(virtual_loop: VirtualTimeLoop) -> None:
    clock = PlayoutClock()
    seen: list[float] = []
    clock.register(seen.append)

    async def body() -> None:
        origin = virtual_loop.time()
        await run_for(clock, 1.0 + PERIOD / 2)
        assert len(seen) == 50
        for n, when in enumerate(seen, start=1):
            assert when == pytest.approx(origin + n * PERIOD, abs=1e-9)

    run(virtual_loop, body)
    assert clock.ticks == 50
    assert clock.late_ticks == 0
    assert clock.max_lateness == pytest.approx(0.0, abs=1e-9)


def test_no_drift_over_a_long_run(virtual_loop: VirtualTimeLoop) -> None:
    clock = PlayoutClock()
    seen: list[float] = []
    clock.register(seen.append)

    async def body() -> None:
        origin = virtual_loop.time()
        await run_for(clock, 120.0 + PERIOD / 2)  # two minutes of ticks
        assert seen[-1] == pytest.approx(origin + 6_000 * PERIOD, abs=1e-6)

    run(virtual_loop, body)
    assert clock.ticks == 6_000


def test_small_wakeup_jitter_does_not_accumulate(virtual_loop: VirtualTimeLoop) -> None:
    # Each callback steals 5 ms: ticks are late but deadlines stay on the grid.
    clock = PlayoutClock()
    seen: list[float] = []

    def slow(when: float) -> None:
        seen.append(when)
        virtual_loop.advance(0.005)

    clock.register(slow)

    async def body() -> None:
        origin = virtual_loop.time()
        await run_for(clock, 1.0 + PERIOD / 2)
        assert [round((w - origin) / PERIOD, 6) for w in seen] == list(range(1, 51))

    run(virtual_loop, body)
    assert clock.late_ticks == 0


def test_falling_behind_skips_ahead_instead_of_bursting(virtual_loop: VirtualTimeLoop) -> None:
    clock = PlayoutClock()
    seen: list[float] = []
    stall_once = [True]

    def cb(when: float) -> None:
        seen.append(when)
        if len(seen) == 5 and stall_once[0]:
            stall_once[0] = False
            virtual_loop.advance(0.105)  # a 105 ms stall: five periods and a bit

    clock.register(cb)

    async def body() -> None:
        origin = virtual_loop.time()
        await run_for(clock, 0.5 + PERIOD / 2)
        slots = [round((w - origin) / PERIOD, 6) for w in seen]
        # Slot 5 ran at t=0.100 and stalled to 0.205: slots 6..9 are dropped,
        # slot 10 (due 0.200) runs at once, then back on the grid.
        assert slots[:7] == [1, 2, 3, 4, 5, 10, 11]
        assert slots == sorted(set(slots))
        assert slots[-1] == 25

    run(virtual_loop, body)
    assert clock.late_ticks == 1
    assert clock.skipped_ticks == 4
    assert clock.max_lateness == pytest.approx(0.005, abs=1e-9)


def test_raising_callback_is_counted_and_others_keep_ticking(
    virtual_loop: VirtualTimeLoop, caplog: pytest.LogCaptureFixture
) -> None:
    clock = PlayoutClock()
    good: list[float] = []

    def bad(when: float) -> None:
        raise RuntimeError("session bug")

    clock.register(bad)
    clock.register(good.append)

    async def body() -> None:
        with caplog.at_level(logging.ERROR, logger="media.clock"):
            await run_for(clock, 0.1 + PERIOD / 2)

    run(virtual_loop, body)
    assert len(good) == 5
    assert clock.callback_errors == 5
    assert clock.ticks == 5
    assert "callback failed" in caplog.text


def test_unregister_stops_calls_and_is_idempotent(virtual_loop: VirtualTimeLoop) -> None:
    clock = PlayoutClock()
    a: list[float] = []
    b: list[float] = []
    unregister_a = clock.register(a.append)
    clock.register(b.append)
    assert clock.callback_count == 2

    async def body() -> None:
        await clock.start()
        await asyncio.sleep(0.05)  # two ticks
        unregister_a()
        unregister_a()
        await asyncio.sleep(0.06)
        await clock.aclose()

    run(virtual_loop, body)
    assert len(a) == 2
    assert len(b) == 5
    assert clock.callback_count == 1


def test_callback_may_unregister_itself_during_a_tick(virtual_loop: VirtualTimeLoop) -> None:
    clock = PlayoutClock()
    calls: list[float] = []
    other: list[float] = []
    handle: list[Callable[[], None]] = []

    def once(when: float) -> None:
        calls.append(when)
        handle[0]()

    handle.append(clock.register(once))
    clock.register(other.append)

    async def body() -> None:
        await run_for(clock, 0.1 + PERIOD / 2)

    run(virtual_loop, body)
    assert len(calls) == 1
    assert len(other) == 5


def test_start_twice_is_an_error_and_aclose_is_idempotent(virtual_loop: VirtualTimeLoop) -> None:
    clock = PlayoutClock()

    async def body() -> None:
        await clock.aclose()  # never started: no-op
        await clock.start()
        assert clock.running
        with pytest.raises(RuntimeError):
            await clock.start()
        await clock.aclose()
        assert not clock.running
        await clock.aclose()
        await clock.start()  # restartable after close
        assert clock.running
        await clock.aclose()

    run(virtual_loop, body)


def test_ticks_with_no_callbacks(virtual_loop: VirtualTimeLoop) -> None:
    clock = PlayoutClock(frame_ms=10)

    async def body() -> None:
        await run_for(clock, 0.1 + 0.005)

    run(virtual_loop, body)
    assert clock.ticks == 10


def test_bad_period_rejected() -> None:
    with pytest.raises(ValueError):
        PlayoutClock(frame_ms=0)


async def test_runs_on_a_real_loop_too() -> None:
    clock = PlayoutClock()
    seen: list[float] = []
    clock.register(seen.append)
    await clock.start()
    # Wait for ticks rather than for a fixed time: a loaded CI machine may be slow.
    for _ in range(500):
        if len(seen) >= 3:
            break
        await asyncio.sleep(0.01)
    await clock.aclose()
    assert len(seen) >= 3
    assert not clock.running
    # Scheduled times stay on the grid even on a real, noisy loop.
    for a, b in itertools.pairwise(seen):
        steps = (b - a) / PERIOD
        assert steps >= 1 - 1e-6
        assert steps == pytest.approx(round(steps), abs=1e-6)
