"""The agent's queued speech: TTS audio at its own rate in, pipeline frames out.

TTS providers speak at their own rate; the playout buffer holds the reply at
the pipeline rate until the playout clock takes it a frame at a time. The
resampler's state runs across a reply's chunks, so its filter delay comes out
once, at ``finish``.
"""

from __future__ import annotations

from media.frames import FRAME_MS, PIPELINE_RATE
from media.playout import PlayoutBuffer
from media.resample import StreamResampler


class AgentAudio:
    """TTS audio converted to the pipeline rate and queued for playout."""

    def __init__(self, tts_rate: int) -> None:
        self._buffer = PlayoutBuffer(PIPELINE_RATE, FRAME_MS)
        self._resampler = StreamResampler(tts_rate, PIPELINE_RATE)

    @property
    def played_samples(self) -> int:
        """Pipeline-rate samples taken for playout so far, over the session."""
        return self._buffer.played_samples

    @property
    def has_frame(self) -> bool:
        """At least one whole frame is queued."""
        return self._buffer.queued_samples >= self._buffer.frame_samples

    @property
    def is_empty(self) -> bool:
        return self._buffer.is_empty

    def queue(self, pcm: bytes, tts_rate: int) -> int:
        """Queue a chunk of TTS audio; returns the samples queued at the pipeline rate."""
        if self._resampler.in_rate != tts_rate:
            self._resampler = StreamResampler(tts_rate, PIPELINE_RATE)
        out = self._resampler.process(pcm)
        self._buffer.push(out)
        return len(out) // 2

    def finish(self) -> int:
        """The synthesis ended: queue the resampler's tail; returns its samples."""
        tail = self._resampler.flush()
        self._buffer.push(tail)
        return len(tail) // 2

    def pop_frame(self) -> bytes | None:
        """The next frame to play (the last one padded), or None when nothing is queued."""
        return self._buffer.pop_frame()

    def discard(self) -> None:
        """Drop what is queued and not yet played."""
        self._buffer.flush()

    def stop(self) -> None:
        """Barge-in: drop what is queued and the resampler's history with it."""
        self._buffer.flush()
        self._resampler.reset()
