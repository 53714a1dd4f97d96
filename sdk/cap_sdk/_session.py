"""What every CAP session shares: control messages out, a bounded event inbox in."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from cap_sdk.events import Event

MAX_QUEUED_EVENTS = 10_000  # a consumer that never reads loses new events, counted

E = TypeVar("E")


class SessionBase(ABC):
    """Typed events in (iterate, or wait for one kind); text, interrupts and pings out."""

    def __init__(self) -> None:
        self.dropped_events = 0
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()

    @abstractmethod
    async def _send(self, message: dict[str, Any]) -> None:
        """Send one JSON control message to the server."""

    # ------------------------------------------------------------ sending

    async def send_text(self, text: str) -> None:
        await self._send({"type": "input.text", "text": text})

    async def interrupt(self) -> None:
        await self._send({"type": "interrupt"})

    async def ping(self, ping_id: str | int | None = None) -> None:
        await self._send({"type": "ping", "id": ping_id})

    # ------------------------------------------------------------ receiving

    def _deliver(self, event: Event) -> None:
        if self._events.qsize() >= MAX_QUEUED_EVENTS:
            self.dropped_events += 1
            return
        self._events.put_nowait(event)

    def _deliver_end(self) -> None:
        self._events.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while (event := await self._events.get()) is not None:
            yield event

    async def next_event(self, kind: type[E]) -> E:
        """The next event of type ``kind``; events of other types are skipped.

        Bound the wait with ``asyncio.timeout`` around the call.
        """
        while True:
            event = await self._events.get()
            if event is None:
                self._events.put_nowait(None)
                raise ConnectionError("session closed")
            if isinstance(event, kind):
                return event
