"""WebRTC audio (aiortc tracks) bridged to pipeline frames, both ways.

Inbound, aiortc hands decoded Opus as 48 kHz stereo PCM16; ``PeerAudioReader``
downmixes, resamples and reframes it into 20 ms pipeline frames.

Outbound, ``OutboundAudioTrack`` is the track aiortc's RTP sender reads. It is
paced by the process-wide ``PlayoutClock`` (one frame per tick, no sleep loop
per session) and sends silence whenever the agent has nothing to say: a
browser's jitter buffer and level meters expect a continuous RTP stream, and a
gap would read as packet loss. ``clear`` drops queued agent audio at barge-in;
``finish`` sends the end of a reply still inside the resampler.
"""

from __future__ import annotations

import asyncio
import fractions
from collections import deque

import av
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.clock import PlayoutClock
from media.errors import InvalidAudioError
from media.frames import FRAME_MS, PIPELINE_RATE, Reframer, frame_bytes, samples_per_frame
from media.transcode import InboundAudio, OutboundAudio

WEBRTC_RATE = 48_000  # Opus always runs at 48 kHz on the wire
MIN_PEER_RATE = 8_000
MAX_PEER_RATE = 48_000
# Agent audio waiting for the sender; the session paces it in real time, so a
# backlog only builds if the sender stalls. Past this, new frames are dropped.
DEFAULT_MAX_QUEUED_SECONDS = 30.0
# Ticks banked while the sender is busy encoding. Past this a tick is skipped
# (and the RTP clock jumps over it) instead of bursting frames at the peer.
MAX_PENDING_TICKS = 5

_INT16_FORMATS = ("s16", "s16p")
_FLOAT_FORMATS = ("flt", "fltp")


def mono_pcm16(frame: av.AudioFrame) -> bytes:
    """A decoded frame of any channel count as PCM16 mono bytes at its own rate."""
    name = frame.format.name
    if name not in _INT16_FORMATS + _FLOAT_FORMATS:
        raise InvalidAudioError(f"unsupported peer sample format {name!r}")
    channels = len(frame.layout.channels)
    if channels < 1:
        raise InvalidAudioError("peer audio frame has no channels")
    data = frame.to_ndarray()
    if not frame.format.is_planar:
        # Packed audio arrives as one row of interleaved samples.
        data = data.reshape(-1, channels).T
    if name in _INT16_FORMATS and channels == 1:
        mono16: npt.NDArray[np.int16] = data[0].astype("<i2", copy=False)
        return mono16.tobytes()
    mixed = data.astype(np.float32).mean(axis=0)
    if name in _FLOAT_FORMATS:
        mixed = mixed * np.float32(32768.0)
    clipped: npt.NDArray[np.int16] = np.clip(np.rint(mixed), -32768, 32767).astype("<i2")
    return clipped.tobytes()


def audio_frame(pcm: bytes, sample_rate: int, pts: int) -> av.AudioFrame:
    """PCM16 mono bytes as an aiortc/PyAV frame stamped ``pts`` (in samples)."""
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    frame.planes[0].update(pcm)
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, sample_rate)
    return frame


class PeerAudioReader:
    """Decoded peer frames in (any rate, any channel count), pipeline frames out."""

    def __init__(self) -> None:
        self._inbound: InboundAudio | None = None
        self.frames_in = 0

    def push(self, frame: av.AudioFrame) -> list[bytes]:
        rate = frame.sample_rate
        if not MIN_PEER_RATE <= rate <= MAX_PEER_RATE:
            raise InvalidAudioError(f"peer audio at {rate} Hz is outside the supported range")
        if self._inbound is None or self._inbound.sample_rate != rate:
            # A renegotiated rate restarts the resampler rather than mixing streams.
            self._inbound = InboundAudio("pcm16", rate)
        self.frames_in += 1
        return self._inbound.push(mono_pcm16(frame))


class OutboundAudioTrack(MediaStreamTrack):
    """The agent's voice as an aiortc audio track at ``sample_rate`` (48 kHz by default)."""

    kind = "audio"

    def __init__(
        self,
        clock: PlayoutClock,
        *,
        sample_rate: int = WEBRTC_RATE,
        max_queued_seconds: float = DEFAULT_MAX_QUEUED_SECONDS,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self._frame_samples = samples_per_frame(sample_rate)
        self._silence = bytes(frame_bytes(sample_rate))
        self._converter = OutboundAudio("pcm16", sample_rate)
        self._reframer = Reframer(sample_rate)
        self._queue: deque[bytes] = deque()
        self._max_frames = max(1, round(max_queued_seconds * 1000 / FRAME_MS))
        self._ticks = 0
        self._skipped = 0
        self._waiter: asyncio.Future[None] | None = None
        self._pts = 0
        self.audio_frames_sent = 0
        self.silent_frames_sent = 0
        self.dropped_frames = 0
        self.skipped_ticks = 0
        self._unregister = clock.register(self._on_tick)

    # ------------------------------------------------------------ producer side

    def push(self, pcm: bytes) -> None:
        """Agent audio at the pipeline rate (PCM16 mono), in any chunk size."""
        if self.readyState != "live":
            return
        for frame in self._reframer.push(self._converter.convert(pcm)):
            if len(self._queue) >= self._max_frames:
                self.dropped_frames += 1
                continue
            self._queue.append(frame)

    def finish(self) -> None:
        """The agent's reply ended: queue the resampler's tail, padded to a whole frame.

        Silence follows a reply anyway, so padding the last partial frame adds
        nothing the peer would not hear; without this the tail (the filter's
        delay, ~1 ms) would wait for the next reply.
        """
        if self.readyState != "live":
            return
        tail = self._converter.flush()
        partial = (self._reframer.pending_bytes + len(tail)) % len(self._silence)
        if partial:
            tail += self._silence[partial:]
        for frame in self._reframer.push(tail):
            if len(self._queue) >= self._max_frames:
                self.dropped_frames += 1
                continue
            self._queue.append(frame)

    def clear(self) -> None:
        """Barge-in: forget every queued frame and the resampler's tail of the cut audio."""
        self._queue.clear()
        self._reframer.reset()
        self._converter.reset()

    @property
    def queued_pipeline_samples(self) -> int:
        """Agent audio accepted but not yet sent, counted at the pipeline rate."""
        samples = len(self._queue) * self._frame_samples + self._reframer.pending_bytes // 2
        return samples * PIPELINE_RATE // self.sample_rate

    # ------------------------------------------------------------ sender side

    def _on_tick(self, _now: float) -> None:
        if self._ticks < MAX_PENDING_TICKS:
            self._ticks += 1
        else:
            self._skipped += 1
            self.skipped_ticks += 1
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        while self._ticks == 0:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
            if self.readyState != "live":
                raise MediaStreamError
        self._ticks -= 1
        # Skipped ticks still advance the RTP clock: the peer sees a gap, not drift.
        self._pts += self._skipped * self._frame_samples
        self._skipped = 0
        if self._queue:
            pcm = self._queue.popleft()
            self.audio_frames_sent += 1
        else:
            pcm = self._silence
            self.silent_frames_sent += 1
        frame = audio_frame(pcm, self.sample_rate, self._pts)
        self._pts += self._frame_samples
        return frame

    def stop(self) -> None:
        self._unregister()
        self._queue.clear()
        super().stop()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
