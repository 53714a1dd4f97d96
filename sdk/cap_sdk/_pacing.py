"""Real-time pacing of 20 ms frames with absolute deadlines (no drift)."""

from __future__ import annotations

import asyncio

FRAME_SECS = 0.02


class Pacer:
    def __init__(self) -> None:
        self._start: float | None = None
        self._count = 0

    async def wait(self) -> None:
        """Sleep until the next frame is due."""
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._count * FRAME_SECS
        self._count += 1
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.2:
            # Far behind (a stalled loop): restart the schedule, do not burst.
            self._start, self._count = loop.time(), 1
