"""The outbound audio queue of one session: agent audio in, paced 20 ms frames out.

TTS pushes audio in whatever chunks it likes; the playout clock pops exactly
one frame per tick. ``played_samples`` is what barge-in needs to know how much
of the agent's reply the user actually heard, and ``flush`` is how barge-in
silences the agent within one frame.

Storage is one ``bytearray`` plus a read offset: popping a frame copies only
that frame's bytes, and consumed bytes are compacted away in amortised O(1).
"""

from __future__ import annotations

from media.errors import BufferOverflowError
from media.frames import FRAME_MS, PIPELINE_RATE, SAMPLE_WIDTH, frame_bytes

# Ten minutes of queued agent audio is far beyond any sane reply; past that a
# runaway producer is a bug, and we refuse rather than eat memory.
DEFAULT_MAX_QUEUED_SECONDS = 600.0

# Compact the consumed prefix only once it is big enough that the memmove is
# cheap relative to the frames already served.
_COMPACT_MIN_BYTES = 64 * 1024


class PlayoutBuffer:
    """A FIFO of PCM16 mono bytes served as fixed-size frames.

    Chunks may have any length, including an odd number of bytes (HTTP chunk
    boundaries can split a sample); a dangling half-sample waits for its other
    byte and is never played on its own.
    """

    def __init__(
        self,
        sample_rate: int = PIPELINE_RATE,
        frame_ms: int = FRAME_MS,
        *,
        max_queued_seconds: float = DEFAULT_MAX_QUEUED_SECONDS,
    ) -> None:
        if sample_rate <= 0 or frame_ms <= 0:
            raise ValueError("sample_rate and frame_ms must be positive")
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.frame_size = frame_bytes(sample_rate, frame_ms)
        if self.frame_size == 0:
            raise ValueError("frame must hold at least one sample")
        self._max_bytes = int(max_queued_seconds * sample_rate) * SAMPLE_WIDTH
        self._buf = bytearray()
        self._offset = 0
        self._played_samples = 0

    def push(self, pcm: bytes) -> None:
        """Append agent audio. Raises ``BufferOverflowError`` past the named limit."""
        if not pcm:
            return
        if len(self._buf) - self._offset + len(pcm) > self._max_bytes:
            raise BufferOverflowError(
                f"playout buffer would exceed {self._max_bytes} bytes of queued audio"
            )
        self._buf += pcm

    def pop_frame(self) -> bytes | None:
        """The next frame; a trailing partial frame is zero-padded. None when empty."""
        size = self.frame_size
        start = self._offset
        available = len(self._buf) - start
        available -= available % SAMPLE_WIDTH
        if available <= 0:
            return None
        take = min(size, available)
        with memoryview(self._buf) as view:
            frame = view[start : start + take].tobytes()
        self._offset = start + take
        self._played_samples += take // SAMPLE_WIDTH
        if take < size:
            frame += bytes(size - take)
        self._maybe_compact()
        return frame

    def flush(self) -> int:
        """Drop everything queued at once; returns the number of whole samples dropped."""
        dropped = self.queued_samples
        self._buf.clear()
        self._offset = 0
        return dropped

    @property
    def frame_samples(self) -> int:
        """Samples in one frame (``frame_size`` is in bytes)."""
        return self.frame_size // SAMPLE_WIDTH

    @property
    def queued_samples(self) -> int:
        return (len(self._buf) - self._offset) // SAMPLE_WIDTH

    @property
    def queued_seconds(self) -> float:
        return self.queued_samples / self.sample_rate

    @property
    def played_samples(self) -> int:
        """Real (non-padding) samples popped since creation; never decreases."""
        return self._played_samples

    @property
    def played_seconds(self) -> float:
        return self._played_samples / self.sample_rate

    @property
    def is_empty(self) -> bool:
        """True when no whole sample is queued (a dangling half-sample does not count)."""
        return self.queued_samples == 0

    def _maybe_compact(self) -> None:
        offset = self._offset
        if offset == len(self._buf):
            self._buf.clear()
            self._offset = 0
        elif offset >= _COMPACT_MIN_BYTES and offset * 2 >= len(self._buf):
            del self._buf[:offset]
            self._offset = 0
