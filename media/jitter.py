"""A pure jitter buffer for sequence-numbered audio packets (RTP-like).

Packets arrive out of order, twice, late, or never; the consumer (a clock
tick) wants them in order, one per ``pop``. No clock lives here: a missing
packet is declared lost once ``loss_after`` packets newer than it have
arrived, so the same arrivals always give the same output.

Sequence numbers are 16-bit and wrap; internally they are extended to a
monotonic integer relative to the highest one seen, and that extended number
is what ``pop`` reports (after a "reset" it restarts from the new raw number).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from media.errors import MediaError

SEQUENCE_MODULO = 1 << 16
_HALF = SEQUENCE_MODULO // 2

DEFAULT_CAPACITY = 64  # packets held at most (~1.3 s of 20 ms audio)
DEFAULT_LOSS_AFTER = 3  # newer packets seen before a gap is declared lost
DEFAULT_PREFILL = 1  # packets buffered before playout (re)starts
DEFAULT_MAX_JUMP = 1000  # further than this from the stream: a stray or a new stream

PushOutcome = Literal["queued", "duplicate", "late", "out_of_range", "reset"]


class InvalidPacketError(MediaError, ValueError):
    """A packet whose sequence number is outside 0..65535."""


@dataclass(frozen=True, slots=True)
class JitterPacket:
    """One slot of playout: a payload, or ``None`` where the packet was lost."""

    sequence: int
    payload: bytes | None

    @property
    def lost(self) -> bool:
        return self.payload is None


@dataclass(frozen=True, slots=True)
class JitterStats:
    received: int = 0
    duplicates: int = 0
    late: int = 0
    lost: int = 0
    overflow_drops: int = 0
    out_of_range: int = 0
    resets: int = 0
    underruns: int = 0


class JitterBuffer:
    """Reorders packets, drops duplicates and late ones, and reports losses in order."""

    def __init__(
        self,
        *,
        capacity: int = DEFAULT_CAPACITY,
        loss_after: int = DEFAULT_LOSS_AFTER,
        prefill: int = DEFAULT_PREFILL,
        max_jump: int = DEFAULT_MAX_JUMP,
    ) -> None:
        if capacity < 1 or loss_after < 1 or prefill < 1 or prefill > capacity:
            raise ValueError("need capacity >= prefill >= 1 and loss_after >= 1")
        if not capacity <= max_jump < _HALF:
            raise ValueError("need capacity <= max_jump < 32768")
        self.capacity = capacity
        self.loss_after = loss_after
        self.prefill = prefill
        self.max_jump = max_jump
        self._packets: dict[int, bytes] = {}
        self._next: int | None = None  # extended sequence number to play next
        self._highest = 0
        self._buffering = True
        self._received = 0
        self._duplicates = 0
        self._late = 0
        self._lost = 0
        self._overflow_drops = 0
        self._out_of_range = 0
        self._resets = 0
        self._underruns = 0
        # A far-off packet waits here: if the next one follows it, the peer
        # restarted its numbering; if not, it was a stray and is forgotten.
        self._probe: tuple[int, bytes] | None = None

    def push(self, sequence: int, payload: bytes) -> PushOutcome:
        if not 0 <= sequence < SEQUENCE_MODULO:
            raise InvalidPacketError(f"sequence number {sequence} outside 0..65535")
        self._received += 1
        if self._next is None:
            self._start(sequence)
        ext = self._extend(sequence)
        assert self._next is not None
        if abs(ext - self._highest) > self.max_jump:
            return self._far_packet(sequence, payload)
        self._probe = None
        if ext < self._next:
            self._late += 1
            return "late"
        if ext in self._packets:
            self._duplicates += 1
            return "duplicate"
        self._packets[ext] = payload
        self._highest = max(self._highest, ext)
        self._enforce_capacity()
        return "queued"

    def pop(self) -> JitterPacket | None:
        """The next slot in order, a loss marker for a gap given up on, or None to wait."""
        if self._next is None:
            return None
        if self._buffering:
            if len(self._packets) < self.prefill:
                return None
            self._buffering = False
        seq = self._next
        payload = self._packets.pop(seq, None)
        if payload is not None:
            self._next = seq + 1
            return JitterPacket(seq, payload)
        if not self._packets:
            # Ran dry: nothing to play and nothing to give up on yet.
            self._underruns += 1
            self._buffering = True
            return None
        # Everything still buffered is newer than the gap (older slots are gone).
        if len(self._packets) >= self.loss_after:
            self._lost += 1
            self._next = seq + 1
            return JitterPacket(seq, None)
        return None

    @property
    def queued(self) -> int:
        return len(self._packets)

    @property
    def stats(self) -> JitterStats:
        return JitterStats(
            received=self._received,
            duplicates=self._duplicates,
            late=self._late,
            lost=self._lost,
            overflow_drops=self._overflow_drops,
            out_of_range=self._out_of_range,
            resets=self._resets,
            underruns=self._underruns,
        )

    def _far_packet(self, sequence: int, payload: bytes) -> PushOutcome:
        probe = self._probe
        if probe is not None and (probe[0] + 1) % SEQUENCE_MODULO == sequence:
            # Two in a row far from the old stream: it is a new stream. Start
            # over from the first of them rather than wait on a gap this big.
            self._resets += 1
            self._probe = None
            self._packets.clear()
            self._buffering = True
            self._start(probe[0])
            self._packets[probe[0]] = probe[1]
            self._packets[probe[0] + 1] = payload
            self._highest = probe[0] + 1
            return "reset"
        self._probe = (sequence, payload)
        self._out_of_range += 1
        return "out_of_range"

    def _start(self, sequence: int) -> None:
        self._next = sequence
        self._highest = sequence

    def _extend(self, sequence: int) -> int:
        delta = (sequence - self._highest) % SEQUENCE_MODULO
        if delta >= _HALF:
            delta -= SEQUENCE_MODULO
        return self._highest + delta

    def _enforce_capacity(self) -> None:
        # Keep the window [next, highest] within capacity: skip the oldest slots,
        # dropping what is buffered there and counting the holes as lost.
        assert self._next is not None
        while self._highest - self._next >= self.capacity:
            if self._packets.pop(self._next, None) is None:
                self._lost += 1
            else:
                self._overflow_drops += 1
            self._next += 1
