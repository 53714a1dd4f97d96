"""What the caller has actually heard, from Twilio's ``mark`` echoes. Pure.

Twilio buffers the agent audio we send and plays it at its own pace. A mark
sent after some audio comes back when that audio has been played (or, after a
``clear``, at once, for audio that was dropped unplayed). Counting samples
sent and samples covered by echoed marks gives the playback lag the session
subtracts at barge-in, so history keeps only what was heard.

Samples are counted at the pipeline rate, the unit of the session's playout.
"""

from __future__ import annotations

from collections import OrderedDict
from enum import StrEnum

MARK_PREFIX = "cap-"
DEFAULT_MAX_PENDING_MARKS = 600  # a minute of marks at one per 100 ms


class MarkOutcome(StrEnum):
    PLAYED = "played"  # audio before it has been heard
    STALE = "stale"  # ours, but dropped by a clear (Twilio echoes those at once)
    UNKNOWN = "unknown"  # never sent by us: bad input


class PlaybackTracker:
    def __init__(
        self, mark_every_frames: int = 5, *, max_pending: int = DEFAULT_MAX_PENDING_MARKS
    ) -> None:
        if mark_every_frames < 1:
            raise ValueError("mark_every_frames must be at least 1")
        self.mark_every_frames = mark_every_frames
        self.max_pending = max_pending
        self.sent_samples = 0
        self.heard_samples = 0
        self._frames_since_mark = 0
        self._next_mark = 0
        # mark name -> sent_samples when it was sent, in sending order.
        self._pending: OrderedDict[str, int] = OrderedDict()

    @property
    def lag(self) -> int:
        """Samples sent but not yet heard (Twilio's buffer plus what is on the wire)."""
        return self.sent_samples - self.heard_samples

    @property
    def pending_marks(self) -> int:
        return len(self._pending)

    def on_sent(self, samples: int) -> str | None:
        """Audio went out; returns a mark name to send after it when a batch is complete."""
        self.sent_samples += samples
        self._frames_since_mark += 1
        if self._frames_since_mark < self.mark_every_frames:
            return None
        return self.flush()

    def flush(self) -> str | None:
        """A mark for audio sent since the last one (end of a reply), if any."""
        if self._frames_since_mark == 0:
            return None
        self._frames_since_mark = 0
        name = f"{MARK_PREFIX}{self._next_mark}"
        self._next_mark += 1
        self._pending[name] = self.sent_samples
        if len(self._pending) > self.max_pending:
            # A peer that never echoes: forget the oldest; the lag stays conservative.
            self._pending.popitem(last=False)
        return name

    def on_mark(self, name: str) -> MarkOutcome:
        position = self._pending.pop(name, None)
        if position is None:
            return MarkOutcome.STALE if self._issued(name) else MarkOutcome.UNKNOWN
        # Marks come back in order; an earlier one still pending was lost: drop it too.
        while self._pending:
            first, earlier = next(iter(self._pending.items()))
            if earlier > position:
                break
            del self._pending[first]
        self.heard_samples = max(self.heard_samples, position)
        return MarkOutcome.PLAYED

    def clear(self) -> None:
        """Twilio dropped everything buffered: nothing is in flight any more."""
        self._pending.clear()
        self._frames_since_mark = 0
        self.heard_samples = self.sent_samples

    def _issued(self, name: str) -> bool:
        number = name.removeprefix(MARK_PREFIX)
        return name.startswith(MARK_PREFIX) and number.isdigit() and int(number) < self._next_mark
