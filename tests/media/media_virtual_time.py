"""A virtual-time asyncio loop for media tests (clock pacing without real sleeps)."""

from __future__ import annotations

import asyncio
import selectors
from typing import Any


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
