"""Outgoing Twilio messages waiting for the socket, under one drop policy.

Both outboxes (the ASGI ``SocketOutbox`` and the taken-over ``WireOutbox``)
hold messages the peer has not taken yet. Past ``limit`` an audio message
(``media`` or its ``mark``) is dropped and counted; a control message
(``clear``) is always kept, and a ``clear`` first drops the held audio.
"""

from __future__ import annotations

from collections import deque


class HeldMessages:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: deque[tuple[str, bool]] = deque()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def hold(self, text: str, *, audio: bool) -> bool:
        """Queue one message; False (and counted) when audio finds the queue full."""
        if audio and len(self._items) >= self.limit:
            self.dropped += 1
            return False
        self._items.append((text, audio))
        return True

    def pop(self) -> str:
        return self._items.popleft()[0]

    def drop_audio(self) -> int:
        """Drop every held audio message, keep control ones in order; how many went."""
        kept = deque(item for item in self._items if not item[1])
        dropped = len(self._items) - len(kept)
        self._items = kept
        return dropped

    def clear(self) -> None:
        self._items.clear()
