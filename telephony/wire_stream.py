"""A media stream on a taken-over connection (``telephony.wire``): no task per message.

``WireCall`` is the connection's sink. Until the stream has started it hands
messages to the endpoint's task, which awaits ``receive_text`` (``start``
resolves the agent and opens the session); from then on every message goes
from ``data_received`` to ``TwilioMediaStream.receive_streaming`` in the same
call. ``WireOutbox`` writes outgoing messages straight to the transport and
holds them only while the transport is paused: then, as ``SocketOutbox`` does,
audio past the limit is dropped (and counted) and control messages never are.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from telephony.admission import CLOSE_POLICY
from telephony.errors import StreamClosed
from telephony.held import HeldMessages
from telephony.media_stream import CLOSE_NORMAL, TwilioMediaStream
from telephony.wire import WireSocket

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 1000  # messages held while the peer reads slowly: ~15 s of 20 ms frames
PENDING_LIMIT = 32  # messages read before start has finished; past it reading pauses
CLOSE_INTERNAL_ERROR = 1011


class WireOutbox:
    """An ``Outbox`` that writes at once, holding messages only while the transport is paused."""

    def __init__(self, socket: WireSocket, limit: int = OUTBOX_LIMIT) -> None:
        self.socket = socket
        self._held = HeldMessages(limit)
        self._closed = False
        self._drained = asyncio.Event()
        self._drained.set()

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def dropped(self) -> int:
        return self._held.dropped

    def send(self, text: str, *, audio: bool = False) -> None:
        if self._closed:
            return
        if not self._held and self.socket.can_write:
            self.socket.send_text(text)
            return
        if self._held.hold(text, audio=audio):
            self._drained.clear()

    def drop_audio(self) -> int:
        dropped = self._held.drop_audio()
        if not self._held:
            self._drained.set()
        return dropped

    def flush(self) -> None:
        """Write what was held, while the transport takes it (``on_writable``)."""
        held = self._held
        while held and self.socket.can_write:
            if not self.socket.send_text(held.pop()):
                held.clear()  # the connection is closing: nothing more will go out
        if not held:
            self._drained.set()

    def close(self) -> None:
        """Accept nothing more; what is held still goes out as the transport allows."""
        self._closed = True

    def abandon(self) -> None:
        self._held.clear()
        self._drained.set()

    async def drained(self) -> None:
        await self._drained.wait()


class WireCall:
    """One media stream's ``WireSink``; ``run`` returns the close code and reason."""

    def __init__(self, socket: WireSocket, stream: TwilioMediaStream, outbox: WireOutbox) -> None:
        self.socket = socket
        self.stream = stream
        self.outbox = outbox
        self._pending: deque[str | bytes] = deque()
        self._wake = asyncio.Event()
        self._direct = False
        self._reading_paused = False
        self._end: tuple[int, str] | None = None

    # ------------------------------------------------------------ WireSink

    def on_text(self, text: str) -> None:
        if self._end is not None:
            return
        if not self._direct:
            self._hold(text)
            return
        try:
            self.stream.receive_streaming(text)
        except StreamClosed as closed:
            self._finish(closed.code, closed.reason)
            return
        except Exception:
            log.exception("twilio stream: failed on a message")
            self._finish(CLOSE_INTERNAL_ERROR, "internal error")
            return
        if not self.stream.open:
            self._finish(CLOSE_NORMAL, "stopped")

    def on_binary(self, data: bytes) -> None:
        if self._end is not None:
            return
        if not self._direct:
            self._hold(data)
            return
        try:
            self.stream.receive_binary(data)
        except StreamClosed as closed:
            self._finish(closed.code, closed.reason)
        except Exception:
            log.exception("twilio stream: failed on a binary message")
            self._finish(CLOSE_INTERNAL_ERROR, "internal error")

    def on_closed(self, code: int) -> None:
        self._finish(code, "peer_closed")

    def on_writable(self) -> None:
        self.outbox.flush()

    # ------------------------------------------------------------ the endpoint's task

    async def start(self, wait_secs: float) -> bool:
        """Feed messages to the stream until it has started; False when the call ended first.

        Each wait for the next message is bounded by ``wait_secs`` (Twilio sends
        ``start`` right after ``connected``).
        """
        self.socket.take_over(self)
        stream = self.stream
        try:
            while self._end is None and stream.open and stream.identity is None:
                if not self._pending:
                    self._wake.clear()
                    await asyncio.wait_for(self._wake.wait(), wait_secs)
                    continue
                item = self._pending.popleft()
                if self._reading_paused and len(self._pending) <= PENDING_LIMIT // 2:
                    self._reading_paused = False
                    self.socket.resume_reading()
                if isinstance(item, str):
                    await stream.receive_text(item)
                else:
                    stream.receive_binary(item)
        except StreamClosed as closed:
            self._finish(closed.code, closed.reason)
        except TimeoutError:
            self._finish(CLOSE_POLICY, "no start message")
        if self._end is None and not stream.open:
            self._finish(CLOSE_NORMAL, "stopped")
        # No await from here on: what was held goes first, then the socket's own calls.
        self._direct = True
        while self._pending and self._end is None:
            item = self._pending.popleft()
            if isinstance(item, str):
                self.on_text(item)
            else:
                self.on_binary(item)
        self._pending.clear()
        if self._reading_paused:
            self._reading_paused = False
            self.socket.resume_reading()
        return self._end is None

    async def finished(self) -> tuple[int, str]:
        """Wait for the end of the call: a stop, a close, a flood, a lost connection."""
        while self._end is None:
            self._wake.clear()
            await self._wake.wait()
        return self._end

    def _hold(self, item: str | bytes) -> None:
        self._pending.append(item)
        self._wake.set()
        if len(self._pending) > PENDING_LIMIT and not self._reading_paused:
            self._reading_paused = True
            self.socket.pause_reading()

    def _finish(self, code: int, reason: str) -> None:
        if self._end is None:
            self._end = (code, reason)
            self._wake.set()
