from __future__ import annotations

import asyncio
import itertools
import logging
import selectors
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from media.clock import DEFAULT_SLOTS, PlayoutClock

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
    clock = PlayoutClock(slots=1)
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


# ---------------------------------------------------------------- phase slots

SLOT = PERIOD / DEFAULT_SLOTS


def phases(seen: list[float], origin: float, slot: int) -> list[float]:
    """Each call's period number, from its scheduled time and the slot's phase."""
    return [round((w - origin - slot * SLOT) / PERIOD, 6) for w in seen]


def test_each_callback_once_per_period_at_its_own_phase(virtual_loop: VirtualTimeLoop) -> None:
    clock = PlayoutClock()
    assert clock.slots == DEFAULT_SLOTS == 4
    seen: list[list[float]] = [[] for _ in range(8)]
    order: list[tuple[float, int]] = []

    def recorder(i: int) -> Callable[[float], None]:
        def cb(when: float) -> None:
            assert virtual_loop.time() == pytest.approx(when, abs=1e-9)  # called on time
            seen[i].append(when)
            order.append((when, i))

        return cb

    for i in range(8):
        clock.register(recorder(i))
    assert clock.slot_loads == (2, 2, 2, 2)

    async def body() -> None:
        origin = virtual_loop.time()
        await run_for(clock, 0.2 + PERIOD - SLOT / 2)
        for i in range(8):
            slot = i % 4  # least loaded, lowest index first: 0 1 2 3 0 1 2 3
            assert phases(seen[i], origin, slot) == list(range(1, 11)), i
            assert seen[i][0] == pytest.approx(origin + PERIOD + clock.offset(slot), abs=1e-9)

    run(virtual_loop, body)
    # The work is spread: never more than the slot's two callbacks at one instant.
    per_instant: dict[float, int] = {}
    for when, _ in order:
        per_instant[round(when, 9)] = per_instant.get(round(when, 9), 0) + 1
    assert set(per_instant.values()) == {2}
    assert len(per_instant) == 40
    assert clock.ticks == 10
    assert clock.late_ticks == clock.skipped_ticks == 0
    assert clock.max_lateness == pytest.approx(0.0, abs=1e-9)


def test_slots_stay_balanced_through_register_and_unregister() -> None:
    clock = PlayoutClock(slots=4)
    handles = [clock.register(lambda when: None) for _ in range(10)]
    assert clock.slot_loads == (3, 3, 2, 2)
    assert clock.callback_count == 10
    # Slot 1 held handles 1, 5, 9: empty it, then new callbacks refill it first.
    for i in (1, 5, 9):
        handles[i]()
        handles[i]()  # idempotent: loads do not go negative or shift
    assert clock.slot_loads == (3, 0, 2, 2)
    for _ in range(3):
        clock.register(lambda when: None)
    assert clock.slot_loads == (3, 3, 2, 2)
    assert clock.callback_count == 10
    # An explicit slot is honoured even when it is the busiest.
    clock.register(lambda when: None, slot=0)
    assert clock.slot_loads == (4, 3, 2, 2)
    clock.register(lambda when: None)
    assert clock.slot_loads == (4, 3, 3, 2)
    with pytest.raises(ValueError):
        clock.register(lambda when: None, slot=4)
    with pytest.raises(ValueError):
        clock.register(lambda when: None, slot=-1)
    with pytest.raises(ValueError):
        PlayoutClock(slots=0)


def test_register_and_unregister_during_ticks(virtual_loop: VirtualTimeLoop) -> None:
    clock = PlayoutClock(slots=4)
    late: list[float] = []  # registered from slot 0 into slot 2: same period
    same: list[float] = []  # registered from slot 0 into slot 0: next period
    victim: list[float] = []  # slot 3, removed by slot 1's callback
    handles: dict[str, Callable[[], None]] = {}
    origin = virtual_loop.time()

    def starter(when: float) -> None:
        if "late" not in handles and when >= origin + 3 * PERIOD - 1e-9:
            handles["late"] = clock.register(late.append, slot=2)
            handles["same"] = clock.register(same.append, slot=0)

    def killer(when: float) -> None:
        if when >= origin + 5 * PERIOD:
            handles["victim"]()

    clock.register(starter, slot=0)
    clock.register(killer, slot=1)
    handles["victim"] = clock.register(victim.append, slot=3)

    async def body() -> None:
        await run_for(clock, 0.2 + PERIOD - SLOT / 2)

    run(virtual_loop, body)
    assert phases(late, origin, 2) == list(range(3, 11))
    assert phases(same, origin, 0) == list(range(4, 11))
    assert phases(victim, origin, 3) == [1, 2, 3, 4]
    assert clock.slot_loads == (2, 1, 1, 0)


def test_skip_ahead_with_slots_drops_whole_stale_period_and_never_bursts(
    virtual_loop: VirtualTimeLoop,
) -> None:
    clock = PlayoutClock(slots=4)
    seen: list[list[float]] = [[] for _ in range(4)]
    called_at: list[list[float]] = [[] for _ in range(4)]
    stalled = [False]

    def recorder(slot: int) -> Callable[[float], None]:
        def cb(when: float) -> None:
            seen[slot].append(when)
            called_at[slot].append(virtual_loop.time())
            if slot == 0 and len(seen[0]) == 5 and not stalled[0]:
                stalled[0] = True
                virtual_loop.advance(0.105)  # period 5's phase 0 ran at 0.100, now 0.205

        return cb

    for slot in range(4):
        clock.register(recorder(slot))

    async def body() -> None:
        origin = virtual_loop.time()
        await run_for(clock, 0.3 + PERIOD - SLOT / 2)
        got = [phases(seen[k], origin, k) for k in range(4)]
        # Slot ticks due more than a period before 0.205 are dropped; the rest
        # (period 9's slots 2-3, period 10's slots 0-1) run at once, then the grid.
        assert got[0][:7] == [1, 2, 3, 4, 5, 10, 11]
        assert got[1][:6] == [1, 2, 3, 4, 10, 11]
        assert got[2][:7] == [1, 2, 3, 4, 9, 10, 11]
        assert got[3][:7] == [1, 2, 3, 4, 9, 10, 11]
        for k in range(4):
            assert got[k] == sorted(set(got[k])), k  # at most once per period
            assert got[k][-1] == 15
            # No call more than a period late, and calls stay in time order.
            for when, at in zip(seen[k], called_at[k], strict=True):
                assert at - when < PERIOD
            assert called_at[k] == sorted(called_at[k])

    run(virtual_loop, body)
    assert clock.late_ticks == 1
    assert clock.skipped_ticks == 4  # phase 0 of periods 6-9
    assert clock.ticks == 15 - 4
    assert clock.max_lateness == pytest.approx(0.015, abs=1e-9)  # period 9, slot 2


def test_raising_callback_in_one_slot_silences_no_slot(
    virtual_loop: VirtualTimeLoop, caplog: pytest.LogCaptureFixture
) -> None:
    clock = PlayoutClock(slots=4)
    good: list[list[float]] = [[] for _ in range(7)]

    def bad(when: float) -> None:
        raise RuntimeError("session bug")

    clock.register(bad)  # slot 0, first in its tick
    for i in range(7):
        clock.register(good[i].append)

    async def body() -> None:
        with caplog.at_level(logging.ERROR, logger="media.clock"):
            await run_for(clock, 0.1 + PERIOD - SLOT / 2)

    run(virtual_loop, body)
    assert [len(g) for g in good] == [5] * 7
    assert clock.callback_errors == 5
    assert "callback failed" in caplog.text


def test_one_slot_calls_everything_in_one_tick_in_registration_order(
    virtual_loop: VirtualTimeLoop,
) -> None:
    clock = PlayoutClock(slots=1)
    calls: list[tuple[float, float, int]] = []

    def recorder(i: int) -> Callable[[float], None]:
        return lambda when: calls.append((when, virtual_loop.time(), i))

    for i in range(5):
        clock.register(recorder(i))
    assert clock.slot_loads == (5,)

    async def body() -> None:
        origin = virtual_loop.time()
        await run_for(clock, 0.1 + PERIOD / 2)
        for n in range(5):
            tick = calls[n * 5 : n * 5 + 5]
            assert [i for _, _, i in tick] == [0, 1, 2, 3, 4]
            for when, at, _ in tick:
                assert when == pytest.approx(origin + (n + 1) * PERIOD, abs=1e-9)
                assert at == pytest.approx(when, abs=1e-9)

    run(virtual_loop, body)
    assert len(calls) == 25
    assert clock.ticks == 5


@pytest.mark.parametrize("slots", [1, 4])
def test_long_stalls_keep_counters_consistent(virtual_loop: VirtualTimeLoop, slots: int) -> None:
    # Random-ish stalls: every callback stays on its grid, once per period, and
    # ticks + skipped_ticks is the number of periods elapsed.
    clock = PlayoutClock(slots=slots)
    count = 6
    seen: list[list[float]] = [[] for _ in range(count)]
    elapsed: list[tuple[int, int]] = []  # (ticks + skipped_ticks, period) at each phase-0 call
    stalls = itertools.cycle([0.0, 0.003, 0.0, 0.047, 0.0, 0.0, 0.021, 0.0, 0.09, 0.0])

    def recorder(i: int) -> Callable[[float], None]:
        def cb(when: float) -> None:
            seen[i].append(when)
            if i == 0:
                period = round((when - origin) / PERIOD)
                elapsed.append((clock.ticks + clock.skipped_ticks, period))
            virtual_loop.advance(next(stalls))

        return cb

    for i in range(count):
        clock.register(recorder(i))
    origin = virtual_loop.time()

    async def body() -> None:
        await run_for(clock, 2.0 + PERIOD / (2 * slots))
        step = PERIOD / slots
        for i in range(count):
            slot = i % slots
            got = [(w - origin - slot * step) / PERIOD for w in seen[i]]
            assert all(g == pytest.approx(round(g), abs=1e-6) for g in got)
            periods = [round(g) for g in got]
            assert periods == sorted(set(periods))

    run(virtual_loop, body)
    assert clock.late_ticks > 0
    assert len(elapsed) > 10
    assert all(counted == period for counted, period in elapsed)


class _CountingLoop(VirtualTimeLoop):
    def __init__(self) -> None:
        super().__init__()
        self.timers = 0

    def call_at(  # type: ignore[override]
        self, when: float, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.TimerHandle:
        self.timers += 1
        return super().call_at(when, callback, *args, context=context)


def test_empty_slots_cost_no_wake_up_and_a_late_joiner_starts_next_period() -> None:
    loop = _CountingLoop()
    try:
        clock = PlayoutClock(slots=4)
        first: list[float] = []
        joiner: list[float] = []
        clock.register(first.append)  # slot 0 only
        origin = loop.time()

        async def body() -> None:
            await clock.start()
            await asyncio.sleep(PERIOD + SLOT / 2)  # clock now sleeps until period 2's phase 0
            before = loop.timers
            await asyncio.sleep(PERIOD * 5)
            assert loop.timers - before <= 5 + 2  # ~one wake per period (+ this sleep's timer)
            clock.register(joiner.append, slot=2)
            await asyncio.sleep(PERIOD * 3)
            await clock.aclose()

        loop.run_until_complete(body())
    finally:
        loop.close()
    assert phases(first, origin, 0) == list(range(1, 10))
    # Joined at 0.1225 during period 6, whose phase 2 (0.130) had no wake-up scheduled.
    assert phases(joiner, origin, 2) == [7, 8]


def test_no_tick_after_aclose_and_a_restart_takes_a_new_grid(virtual_loop: VirtualTimeLoop) -> None:
    clock = PlayoutClock()
    seen: list[float] = []
    clock.register(seen.append, slot=2)

    async def body() -> None:
        origin = virtual_loop.time()
        await run_for(clock, 3 * PERIOD - 0.001)  # slot 2 of periods 1 and 2
        assert phases(seen, origin, 2) == [1, 2] and not clock.running
        await asyncio.sleep(5 * PERIOD + 0.003)  # closed: nothing runs
        assert len(seen) == 2
        restart = virtual_loop.time()
        await run_for(clock, 2 * PERIOD - 0.001)
        assert phases(seen[2:], restart, 2) == [1]

    run(virtual_loop, body)
    assert clock.ticks == 2 + 1  # phase 0 of periods 1, 2, then of the restart's period 1
