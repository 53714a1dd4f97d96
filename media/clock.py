"""One pacing clock for every session in the process.

Peers run a sleep loop per session; each loop wakes on its own and accumulates
its own sleep error. Here a single chain of loop timers paces every registered callback
(typically: pop one frame from a session's playout buffer and send it), once
per ``frame_ms`` period each. Deadlines are absolute (``start + n * period``)
so error never accumulates, and a loop that falls behind skips ahead instead of
bursting frames at the client.

The period is cut into ``slots`` phases: each callback is assigned one slot at
``register`` (the least loaded one, or the one asked for) and is called at
``start + n * period + slot * period / slots``. The clock wakes once per slot
and calls only that slot's callbacks, so with many sessions the work arrives in
``slots`` small bursts per period rather than one large one, and a timer or
socket read that falls due meanwhile waits for one slot's burst, not all of
them. A callback never changes slot, so it is called exactly once per period
and each call's time is exactly one period after the previous one (skips
aside). A user that needs to run at the same phase as another (or alone) can
ask for a slot; ``slots=1`` is a single burst per period.

Only ``loop.time()`` and ``loop.call_at`` are used, so the clock runs unchanged
on a virtual-time event loop in tests. Each slot tick is a plain timer callback
that schedules the next one: no task, no future, and the tick runs in the loop
iteration its timer falls due in (a task would resume one iteration later).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

from media.frames import FRAME_MS

logger = logging.getLogger(__name__)

TickCallback = Callable[[float], None]

DEFAULT_CLOSE_TIMEOUT = 1.0
DEFAULT_SLOTS = 4


class PlayoutClock:
    """Calls every registered callback once per frame period, at its slot's phase.

    Counters (``slots=1`` gives exactly the single-burst clock's figures):

    * ``ticks``: periods whose phase 0 (slot 0) ran, whether or not slot 0 has
      callbacks; ``ticks + skipped_ticks`` is the number of periods elapsed.
    * ``late_ticks``: skip-ahead events (the loop fell more than a period behind).
    * ``skipped_ticks``: phase-0 ticks dropped by those skips. A skip drops a
      contiguous run of slot ticks, so a callback of another slot may miss one
      call more or fewer than this in a given skip; never a burst of its own.
    * ``max_lateness``: largest delay, in seconds, between any slot tick's
      scheduled time and the moment the clock woke for it.
    """

    def __init__(
        self,
        frame_ms: int = FRAME_MS,
        *,
        slots: int = DEFAULT_SLOTS,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    ):
        if frame_ms <= 0:
            raise ValueError("frame_ms must be positive")
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.period = frame_ms / 1000
        self.slots = slots
        self._close_timeout = close_timeout  # kept in the API: closing cancels a timer, no wait
        self._callbacks: list[dict[int, TickCallback]] = [{} for _ in range(slots)]
        # Rebuilt only when registration changes, so a tick does not copy a dict.
        self._snapshots: list[tuple[TickCallback, ...]] = [() for _ in range(slots)]
        self._next_token = 0
        self._step = self.period / slots
        # While running: the loop, the grid's origin, the next slot tick's index
        # and the timer that will run it.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._origin = 0.0
        self._m = 0
        self._handle: asyncio.TimerHandle | None = None
        self.ticks = 0
        self.late_ticks = 0
        self.skipped_ticks = 0
        self.max_lateness = 0.0
        self.callback_errors = 0

    def register(self, callback: TickCallback, *, slot: int | None = None) -> Callable[[], None]:
        """Add a callback; returns an idempotent function that removes it.

        Without ``slot`` the callback joins the slot with the fewest callbacks
        (the lowest such index on a tie). It is first called at its slot's next
        tick, within one period: the clock does not wake for an empty slot, so
        a callback joining one while the clock sleeps starts the next period.
        """
        if slot is None:
            slot = min(range(self.slots), key=lambda k: len(self._callbacks[k]))
        elif not 0 <= slot < self.slots:
            raise ValueError(f"slot must be in [0, {self.slots}), got {slot}")
        token = self._next_token
        self._next_token += 1
        callbacks = self._callbacks[slot]
        callbacks[token] = callback
        self._snapshots[slot] = tuple(callbacks.values())

        def unregister() -> None:
            if callbacks.pop(token, None) is not None:
                self._snapshots[slot] = tuple(callbacks.values())

        return unregister

    @property
    def callback_count(self) -> int:
        return sum(len(c) for c in self._callbacks)

    @property
    def slot_loads(self) -> tuple[int, ...]:
        """How many callbacks each slot holds."""
        return tuple(len(c) for c in self._callbacks)

    def offset(self, slot: int) -> float:
        """A slot's phase within the period, in seconds."""
        return slot * self.period / self.slots

    @property
    def running(self) -> bool:
        return self._handle is not None

    async def start(self) -> None:
        if self.running:
            raise RuntimeError("playout clock already running")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._origin = loop.time()
        # Slot tick m is slot m % slots of period m // slots, due at origin + m * step.
        self._m = self.slots
        self._handle = loop.call_at(self._origin + self._m * self._step, self._wake)

    async def aclose(self) -> None:
        """Stop ticking: the next wake-up is cancelled (nothing runs between ticks)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    def _wake(self) -> None:
        """One slot tick, as a plain timer callback (no task, no future), then the next timer."""
        loop = self._loop
        assert loop is not None
        slots = self.slots
        step = self._step
        origin = self._origin
        m = self._m
        deadline = origin + m * step
        lateness = loop.time() - deadline
        self.max_lateness = max(self.max_lateness, lateness)
        slot = m % slots
        if slot == 0:
            self.ticks += 1
        self._run_slot(self._snapshots[slot], deadline)
        m += 1
        # Behind by more than a period (after callbacks too): drop the slot
        # ticks due over a period ago; those left (at most one period's, each
        # callback at most once) run back to back, then the grid resumes.
        behind = loop.time() - (origin + m * step)
        if behind > self.period:
            skip = math.floor(behind / step) - (slots - 1)
            self.late_ticks += 1
            # Phase-0 ticks among m .. m + skip - 1.
            self.skipped_ticks += (m + skip - 1) // slots - (m - 1) // slots
            m += skip
        # No wake-up for a slot without callbacks (phase 0 always wakes, for
        # ``ticks``): an idle process pays one wake-up per period, not ``slots``.
        while m % slots and not self._snapshots[m % slots]:
            m += 1
        self._m = m
        self._handle = loop.call_at(origin + m * step, self._wake)

    def _tick(self, when: float) -> None:
        """One whole period by hand, every slot at ``when`` (tests drive the clock with it)."""
        self.ticks += 1
        for callbacks in self._snapshots:
            self._run_slot(callbacks, when)

    def _run_slot(self, callbacks: tuple[TickCallback, ...], when: float) -> None:
        for callback in callbacks:
            try:
                callback(when)
            except Exception:
                # One session's bug must not silence every other session.
                self.callback_errors += 1
                logger.exception("playout clock callback failed")
