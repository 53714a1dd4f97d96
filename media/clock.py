"""One pacing clock for every session in the process.

Peers run a sleep loop per session; each loop wakes on its own and accumulates
its own sleep error. Here a single task ticks every ``frame_ms`` and calls every
registered callback (typically: pop one frame from a session's playout buffer
and send it). Deadlines are absolute (``start + n * period``) so error never
accumulates, and a loop that falls behind skips ahead instead of bursting
frames at the client.

Only ``loop.time()`` and ``loop.call_at`` are used, so the clock runs unchanged
on a virtual-time event loop in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable

from media.frames import FRAME_MS

logger = logging.getLogger(__name__)

TickCallback = Callable[[float], None]

DEFAULT_CLOSE_TIMEOUT = 1.0


class PlayoutClock:
    """Calls every registered callback once per frame period with the tick's scheduled time."""

    def __init__(self, frame_ms: int = FRAME_MS, *, close_timeout: float = DEFAULT_CLOSE_TIMEOUT):
        if frame_ms <= 0:
            raise ValueError("frame_ms must be positive")
        self.period = frame_ms / 1000
        self._close_timeout = close_timeout
        self._callbacks: dict[int, TickCallback] = {}
        # Rebuilt only when registration changes, so a tick does not copy the dict.
        self._snapshot: tuple[TickCallback, ...] = ()
        self._next_token = 0
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        self.late_ticks = 0
        self.skipped_ticks = 0
        self.max_lateness = 0.0
        self.callback_errors = 0

    def register(self, callback: TickCallback) -> Callable[[], None]:
        """Add a callback; returns an idempotent function that removes it."""
        token = self._next_token
        self._next_token += 1
        self._callbacks[token] = callback
        self._snapshot = tuple(self._callbacks.values())

        def unregister() -> None:
            if self._callbacks.pop(token, None) is not None:
                self._snapshot = tuple(self._callbacks.values())

        return unregister

    @property
    def callback_count(self) -> int:
        return len(self._callbacks)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            raise RuntimeError("playout clock already running")
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(loop), name="playout-clock")

    async def aclose(self) -> None:
        """Cancel the ticking task and wait for it, at most ``close_timeout`` seconds."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({task}, timeout=self._close_timeout)

    async def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        period = self.period
        origin = loop.time()
        n = 1
        while True:
            deadline = origin + n * period
            waiter: asyncio.Future[None] = loop.create_future()
            handle = loop.call_at(deadline, _wake, waiter)
            try:
                await waiter
            finally:
                handle.cancel()
            lateness = loop.time() - deadline
            self.max_lateness = max(self.max_lateness, lateness)
            self._tick(deadline)
            n += 1
            # Behind by more than a period (after callbacks too): jump to the most
            # recent due slot rather than replaying every missed one back to back.
            behind = loop.time() - (origin + n * period)
            if behind > period:
                skip = math.floor(behind / period)
                self.late_ticks += 1
                self.skipped_ticks += skip
                n += skip

    def _tick(self, when: float) -> None:
        self.ticks += 1
        for callback in self._snapshot:
            try:
                callback(when)
            except Exception:
                # One session's bug must not silence every other session.
                self.callback_errors += 1
                logger.exception("playout clock callback failed")


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
