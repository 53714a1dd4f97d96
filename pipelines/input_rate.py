"""A session's inbound audio from a transport's rate to the pipeline rate.

A telephone line delivers 8 kHz. Speech detection can run on those samples
directly (webrtcvad does), and only the audio speech-to-text consumes, the
pre-roll and the speech itself, needs the pipeline's 16 kHz: most of a call
is the caller listening, and those frames are never resampled.
"""

from __future__ import annotations

from media.frames import FRAME_MS, PIPELINE_RATE, AudioFrame, Reframer
from media.resample import StreamResampler

FRAME_SECS = FRAME_MS / 1000


class ToPipelineRate:
    """Frames at ``in_rate`` in, whole 20 ms frames at the pipeline rate out.

    The resampler's state carries from frame to frame, so a run of contiguous
    frames comes out as if converted in one piece. Before converting audio
    that does not follow the last frame converted (a gap), call ``restart``
    and feed one frame of the preceding audio to ``prime``: the filter then
    starts from real history rather than silence, and nothing clicks.
    """

    def __init__(self, in_rate: int) -> None:
        if in_rate == PIPELINE_RATE:
            raise ValueError("already at the pipeline rate")
        self.in_rate = in_rate
        self._resampler = StreamResampler(in_rate, PIPELINE_RATE)
        self._reframer = Reframer(PIPELINE_RATE)
        self._frame_size = self._reframer.frame_size

    def convert(self, frame: AudioFrame) -> list[AudioFrame]:
        """The pipeline frames completed by ``frame``; the last one ends where it ends."""
        pcm = self._resampler.process(frame.pcm)
        end = frame.timestamp + frame.duration
        if len(pcm) == self._frame_size and not self._reframer.pending_bytes:
            # Aligned (a primed restart, steady 20 ms in): one whole frame out.
            return [AudioFrame(pcm, PIPELINE_RATE, end - FRAME_SECS)]
        chunks = self._reframer.push(pcm)
        count = len(chunks)
        return [
            AudioFrame(pcm, PIPELINE_RATE, end - (count - index) * FRAME_SECS)
            for index, pcm in enumerate(chunks)
        ]

    def restart(self) -> None:
        """Forget the filter's history and any partial frame: the next audio is not contiguous."""
        self._resampler.reset()
        self._reframer.reset()

    def prime(self, pcm: bytes) -> None:
        """Feed audio as filter history only: its own output is dropped."""
        self._resampler.process(pcm)
