"""The end of each agent reply reaches the WebRTC peer when the reply ends."""

from __future__ import annotations

import numpy as np

from media.clock import PlayoutClock
from media.frames import PIPELINE_RATE, frame_bytes
from media.resample import StreamResampler
from media.transports.webrtc import WEBRTC_RATE, OutboundAudioTrack

FRAME = frame_bytes(PIPELINE_RATE)


def reply(secs: float, freq: float) -> bytes:
    t = np.arange(int(PIPELINE_RATE * secs)) / PIPELINE_RATE
    return (8000 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


async def drain(track: OutboundAudioTrack) -> bytes:
    """Every queued frame, as the sender takes them (one per clock tick)."""
    out = b""
    while track.queued_pipeline_samples:
        track._on_tick(0.0)
        frame = await track.recv()
        out += frame.to_ndarray()[0].astype("<i2").tobytes()
    return out


async def test_finish_sends_the_resampler_tail_of_each_reply() -> None:
    track = OutboundAudioTrack(PlayoutClock())
    delay = StreamResampler(PIPELINE_RATE, WEBRTC_RATE).delay_samples
    assert delay > 0
    for n, (secs, freq) in enumerate(((0.2, 300.0), (0.36, 500.0))):
        pcm = reply(secs, freq)
        for k in range(0, len(pcm), FRAME):
            track.push(pcm[k : k + FRAME])
        track.finish()
        sent = await drain(track)
        one_piece = StreamResampler(PIPELINE_RATE, WEBRTC_RATE)
        whole = one_piece.process(pcm) + one_piece.flush()
        converted = len(pcm) // 2 * WEBRTC_RATE // PIPELINE_RATE
        assert abs(len(whole) // 2 - (converted + delay)) <= 1
        # The reply whole (its lead-in, its audio, its tail), then silence to the frame's end.
        assert sent[: len(whole)] == whole, f"reply {n}"
        assert not any(sent[len(whole) :])
        assert len(sent) == -(-len(whole) // frame_bytes(WEBRTC_RATE)) * frame_bytes(WEBRTC_RATE)
    track.stop()


async def test_finish_with_nothing_pushed_queues_nothing() -> None:
    track = OutboundAudioTrack(PlayoutClock())
    track.finish()
    assert track.queued_pipeline_samples == 0
    track.stop()
