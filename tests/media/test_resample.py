"""Streaming resampling: frame-by-frame equals one-shot, lengths add up, reset is clean."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import soxr

from media.errors import InvalidAudioError
from media.resample import SUPPORTED_RATES, StreamResampler

PAIRS = [(a, b) for a, b in itertools.permutations(SUPPORTED_RATES, 2)]


def sine(rate: int, secs: float, freq: float = 440.0, amp: float = 12000.0) -> bytes:
    t = np.arange(int(rate * secs)) / rate
    return (np.sin(2 * np.pi * freq * t) * amp).astype("<i2").tobytes()


def chunks(pcm: bytes, rate: int, ms: int = 20) -> list[bytes]:
    size = rate * ms // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def one_shot(pcm: bytes, in_rate: int, out_rate: int) -> np.ndarray:
    x = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    y: np.ndarray = soxr.resample(x, in_rate, out_rate, quality="HQ")
    out: np.ndarray = np.clip(np.rint(y * 32768), -32768, 32767).astype(np.int16)
    return out


def as_int(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, "<i2").astype(np.int64)


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_streamed_in_20ms_frames_equals_one_shot(in_rate: int, out_rate: int) -> None:
    pcm = sine(in_rate, 1.0)
    r = StreamResampler(in_rate, out_rate)
    streamed = b"".join(r.process(c) for c in chunks(pcm, in_rate)) + r.flush()
    ref = one_shot(pcm, in_rate, out_rate)
    assert len(streamed) // 2 == len(ref)
    assert np.abs(as_int(streamed) - ref).max() <= 1


@pytest.mark.parametrize(("in_rate", "out_rate"), [(8000, 16000), (16000, 8000), (48000, 16000)])
def test_no_clicks_at_frame_edges(in_rate: int, out_rate: int) -> None:
    # A click is a jump far larger than a 440 Hz sine ever makes between samples.
    pcm = sine(in_rate, 2.0)
    r = StreamResampler(in_rate, out_rate)
    y = as_int(b"".join(r.process(c) for c in chunks(pcm, in_rate)) + r.flush())
    max_step = 2 * np.pi * 440 / out_rate * 12000 * 1.05 + 2
    body = y[out_rate // 10 : -out_rate // 10]  # leave out the filter's ramp in and out
    assert np.abs(np.diff(body)).max() <= max_step


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_length_accounting_over_a_long_stream(in_rate: int, out_rate: int) -> None:
    r = StreamResampler(in_rate, out_rate)
    frame = sine(in_rate, 0.02)
    produced = 0
    n_frames = 3000  # one minute
    for _ in range(n_frames):
        produced += len(r.process(frame)) // 2
    produced += len(r.flush()) // 2
    expected = n_frames * (out_rate * 20 // 1000)
    assert abs(produced - expected) <= 1
    assert r.samples_in == n_frames * in_rate * 20 // 1000
    assert r.samples_out == produced


def test_held_back_audio_stays_bounded_while_streaming() -> None:
    # What the filter holds between calls must not grow: it is latency, not loss.
    r = StreamResampler(8000, 16000)
    frame = sine(8000, 0.02)
    backlog = []
    for i in range(1, 501):
        r.process(frame)
        backlog.append(i * 320 - r.samples_out)
    assert max(backlog[100:]) <= max(backlog[:100])
    assert min(backlog) >= 0


def test_reset_starts_a_fresh_stream() -> None:
    pcm = sine(8000, 0.5)
    fresh = StreamResampler(8000, 16000)
    expected = b"".join(fresh.process(c) for c in chunks(pcm, 8000)) + fresh.flush()

    r = StreamResampler(8000, 16000)
    for c in chunks(sine(8000, 0.3, freq=1000), 8000):
        r.process(c)  # audio that a barge-in cuts short
    r.reset()
    after = b"".join(r.process(c) for c in chunks(pcm, 8000)) + r.flush()
    assert after == expected


def test_flush_then_reuse_behaves_like_new() -> None:
    pcm = sine(16000, 0.3)
    r = StreamResampler(16000, 24000)
    first = b"".join(r.process(c) for c in chunks(pcm, 16000)) + r.flush()
    second = b"".join(r.process(c) for c in chunks(pcm, 16000)) + r.flush()
    assert first == second
    assert r.flush() == b""


def test_identity_passthrough() -> None:
    r = StreamResampler(16000, 16000)
    pcm = sine(16000, 0.02)
    assert r.passthrough
    assert r.process(pcm) == pcm
    assert r.flush() == b""
    r.reset()
    assert r.samples_in == r.samples_out == 320


def test_ragged_chunks_equal_regular_chunks() -> None:
    pcm = sine(16000, 0.5)
    a = StreamResampler(16000, 8000)
    regular = b"".join(a.process(c) for c in chunks(pcm, 16000)) + a.flush()
    b = StreamResampler(16000, 8000)
    ragged = b"".join(b.process(pcm[i : i + 2 * 77]) for i in range(0, len(pcm), 2 * 77))
    assert ragged + b.flush() == regular


def test_loud_input_saturates_instead_of_wrapping() -> None:
    square = np.where(np.arange(8000) % 40 < 20, 32767, -32768).astype("<i2").tobytes()
    r = StreamResampler(8000, 16000)
    y = as_int(r.process(square) + r.flush())
    assert y.max() <= 32767
    assert y.min() >= -32768
    # Gibbs overshoot clips at full scale rather than wrapping to the other sign.
    assert (np.abs(np.diff(y)) < 60000).all()


def test_empty_and_bad_input() -> None:
    r = StreamResampler(8000, 16000)
    assert r.process(b"") == b""
    with pytest.raises(InvalidAudioError):
        r.process(b"\x00\x01\x02")
    with pytest.raises(ValueError):
        StreamResampler(0, 16000)
    with pytest.raises(ValueError):
        StreamResampler(8000, 16000, quality="best")
