"""The media bridge: outbound track paced by the shared clock, inbound frame conversion."""

from __future__ import annotations

import asyncio
import fractions
import itertools

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from media.clock import PlayoutClock
from media.errors import InvalidAudioError
from media.frames import PIPELINE_RATE, frame_bytes
from media.transports.webrtc import (
    MAX_PENDING_TICKS,
    WEBRTC_RATE,
    OutboundAudioTrack,
    PeerAudioReader,
    audio_frame,
    mono_pcm16,
)

TONE_16K = (8000 * np.sin(2 * np.pi * 440 * np.arange(1600) / 16000)).astype("<i2").tobytes()


def samples(frame: av.AudioFrame) -> np.ndarray:
    rows: np.ndarray = frame.to_ndarray()
    first: np.ndarray = rows[0]
    return first


async def next_frame(track: OutboundAudioTrack, clock: PlayoutClock) -> av.AudioFrame:
    pending = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    assert not pending.done(), "recv must wait for the clock"
    clock._tick(0.0)
    return await pending


async def test_idle_track_sends_silence_one_frame_per_tick() -> None:
    clock = PlayoutClock()
    track = OutboundAudioTrack(clock)
    first = await next_frame(track, clock)
    second = await next_frame(track, clock)
    for frame in (first, second):
        assert frame.sample_rate == WEBRTC_RATE and frame.samples == 960
        assert frame.format.name == "s16" and frame.layout.name == "mono"
        assert not samples(frame).any()
    assert (first.pts, second.pts) == (0, 960)
    assert first.time_base == fractions.Fraction(1, WEBRTC_RATE)
    assert track.silent_frames_sent == 2 and track.audio_frames_sent == 0
    track.stop()


async def test_agent_audio_comes_out_at_48k_then_silence_again() -> None:
    clock = PlayoutClock()
    track = OutboundAudioTrack(clock)
    track.push(TONE_16K)  # 100 ms at the pipeline rate
    assert track.queued_pipeline_samples > 1200
    out = [await next_frame(track, clock) for _ in range(7)]
    loud = [f for f in out if np.abs(samples(f)).max() > 1000]
    # 100 ms is five 20 ms frames; the resampler's delay may shift a few ms into a sixth.
    assert 4 <= len(loud) <= 6
    assert not samples(out[-1]).any()
    peak = max(np.abs(samples(f)).max() for f in loud)
    assert 7000 < peak < 9000
    track.stop()


async def test_clear_drops_queued_audio_at_once() -> None:
    clock = PlayoutClock()
    track = OutboundAudioTrack(clock)
    track.push(TONE_16K * 5)
    loud = await next_frame(track, clock)
    assert np.abs(samples(loud)).max() > 1000
    track.clear()
    assert track.queued_pipeline_samples == 0
    after = await next_frame(track, clock)
    assert not samples(after).any()
    track.stop()


async def test_a_stalled_sender_skips_ticks_and_the_rtp_clock_jumps() -> None:
    clock = PlayoutClock()
    track = OutboundAudioTrack(clock)
    for _ in range(MAX_PENDING_TICKS + 3):
        clock._tick(0.0)
    pts = [int((await track.recv()).pts or 0) for _ in range(MAX_PENDING_TICKS)]
    assert track.skipped_ticks == 3
    # The first frame after the stall carries the gap; later ones are contiguous.
    assert pts[0] == 3 * 960
    assert all(b - a == 960 for a, b in itertools.pairwise(pts))
    track.stop()


async def test_queue_limit_drops_new_frames() -> None:
    clock = PlayoutClock()
    track = OutboundAudioTrack(clock, max_queued_seconds=0.04)
    track.push(TONE_16K)
    assert track.dropped_frames >= 2
    assert track.queued_pipeline_samples <= 2 * 320 + 320
    track.stop()


async def test_stop_unregisters_and_wakes_a_waiting_receiver() -> None:
    clock = PlayoutClock()
    track = OutboundAudioTrack(clock)
    assert clock.callback_count == 1
    pending = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    track.stop()
    with pytest.raises(MediaStreamError):
        await pending
    assert clock.callback_count == 0
    with pytest.raises(MediaStreamError):
        await track.recv()
    track.push(TONE_16K)
    assert track.queued_pipeline_samples == 0


def stereo_frame(left: np.ndarray, right: np.ndarray, rate: int = WEBRTC_RATE) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="stereo", samples=len(left))
    inter = np.empty(2 * len(left), dtype="<i2")
    inter[0::2], inter[1::2] = left, right
    frame.planes[0].update(inter.tobytes())
    frame.sample_rate = rate
    return frame


def test_stereo_is_downmixed_to_mono() -> None:
    left = np.full(960, 1000, dtype="<i2")
    right = np.full(960, 3000, dtype="<i2")
    mono = np.frombuffer(mono_pcm16(stereo_frame(left, right)), dtype="<i2")
    assert len(mono) == 960 and (mono == 2000).all()


def test_planar_float_frames_are_converted() -> None:
    frame = av.AudioFrame(format="fltp", layout="stereo", samples=480)
    for plane in frame.planes:
        plane.update(np.full(480, 0.5, dtype=np.float32).tobytes())
    frame.sample_rate = 24000
    mono = np.frombuffer(mono_pcm16(frame), dtype="<i2")
    assert len(mono) == 480 and (mono == 16384).all()


def test_mono_s16_round_trips_through_audio_frame() -> None:
    pcm = TONE_16K[:640]
    assert mono_pcm16(audio_frame(pcm, PIPELINE_RATE, 0)) == pcm


def test_unsupported_sample_format_is_invalid_audio() -> None:
    frame = av.AudioFrame(format="s32", layout="mono", samples=960)
    frame.sample_rate = WEBRTC_RATE
    with pytest.raises(InvalidAudioError):
        mono_pcm16(frame)


def test_reader_turns_48k_stereo_into_pipeline_frames() -> None:
    reader = PeerAudioReader()
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(960 * 10) / WEBRTC_RATE)).astype("<i2")
    out: list[bytes] = []
    for i in range(10):
        chunk = tone[i * 960 : (i + 1) * 960]
        out += reader.push(stereo_frame(chunk, chunk))
    # 200 ms in; the resampler holds back a few ms, so 9 or 10 whole frames come out.
    assert 9 <= len(out) <= 10
    assert all(len(f) == frame_bytes(PIPELINE_RATE) for f in out)


def test_reader_refuses_absurd_rates() -> None:
    reader = PeerAudioReader()
    frame = audio_frame(bytes(200), 4000, 0)
    with pytest.raises(InvalidAudioError):
        reader.push(frame)
