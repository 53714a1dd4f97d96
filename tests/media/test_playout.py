from __future__ import annotations

import numpy as np
import pytest

from media.errors import BufferOverflowError
from media.playout import PlayoutBuffer

FRAME = 640  # 20 ms at 16 kHz, bytes


def ramp(n_samples: int, start: int = 1) -> bytes:
    return np.arange(start, start + n_samples, dtype=np.int16).tobytes()


def test_empty_buffer_pops_none() -> None:
    buf = PlayoutBuffer()
    assert buf.pop_frame() is None
    assert buf.is_empty
    assert buf.queued_samples == 0
    assert buf.played_samples == 0


def test_frames_come_out_in_order_and_exact_size() -> None:
    buf = PlayoutBuffer()
    data = ramp(320 * 3)
    buf.push(data)
    assert buf.queued_samples == 960
    frames = [buf.pop_frame() for _ in range(3)]
    assert b"".join(f for f in frames if f is not None) == data
    assert all(f is not None and len(f) == FRAME for f in frames)
    assert buf.pop_frame() is None
    assert buf.played_samples == 960


def test_chunks_of_any_size_are_joined_across_frames() -> None:
    buf = PlayoutBuffer()
    data = ramp(1000)
    for i in range(0, len(data), 37 * 2):
        buf.push(data[i : i + 74])
    out = bytearray()
    while (frame := buf.pop_frame()) is not None:
        out += frame
    assert bytes(out[: len(data)]) == data
    assert out[len(data) :] == bytes(len(out) - len(data))
    assert buf.played_samples == 1000


def test_trailing_partial_frame_is_zero_padded_and_padding_not_counted() -> None:
    buf = PlayoutBuffer()
    buf.push(ramp(100))
    frame = buf.pop_frame()
    assert frame is not None and len(frame) == FRAME
    assert frame[:200] == ramp(100)
    assert frame[200:] == bytes(FRAME - 200)
    assert buf.played_samples == 100
    assert buf.is_empty


def test_odd_byte_waits_for_its_partner() -> None:
    buf = PlayoutBuffer()
    sample = ramp(1, start=0x1234)
    buf.push(sample[:1])
    assert buf.is_empty
    assert buf.pop_frame() is None
    buf.push(sample[1:])
    assert buf.queued_samples == 1
    frame = buf.pop_frame()
    assert frame is not None and frame[:2] == sample


def test_partial_frame_keeps_dangling_byte_for_later() -> None:
    buf = PlayoutBuffer()
    data = ramp(11)
    buf.push(data[:21])  # 10 samples + half of the 11th
    first = buf.pop_frame()
    assert first is not None and first[:20] == data[:20]
    buf.push(data[21:])
    second = buf.pop_frame()
    assert second is not None and second[:2] == data[20:22]
    assert buf.played_samples == 11


def test_flush_drops_everything_and_reports_samples() -> None:
    buf = PlayoutBuffer()
    buf.push(ramp(1000))
    buf.pop_frame()
    assert buf.flush() == 1000 - 320
    assert buf.is_empty
    assert buf.pop_frame() is None
    assert buf.played_samples == 320
    assert buf.flush() == 0


def test_flush_drops_a_dangling_half_sample_too() -> None:
    buf = PlayoutBuffer()
    buf.push(b"\x01")
    assert buf.flush() == 0
    buf.push(ramp(1, start=7))
    frame = buf.pop_frame()
    assert frame is not None and frame[:2] == ramp(1, start=7)


def test_played_samples_is_monotonic_across_flushes() -> None:
    buf = PlayoutBuffer()
    seen = []
    for _ in range(5):
        buf.push(ramp(500))
        buf.pop_frame()
        seen.append(buf.played_samples)
        buf.flush()
    assert seen == [320, 640, 960, 1280, 1600]


def test_long_stream_compacts_and_stays_correct() -> None:
    # Enough data to cross the compaction threshold many times.
    buf = PlayoutBuffer()
    rng = np.random.default_rng(1)
    total = rng.integers(-32768, 32767, size=200_000, dtype=np.int16).tobytes()
    out = bytearray()
    pos = 0
    while pos < len(total) or not buf.is_empty:
        if pos < len(total):
            step = int(rng.integers(1, 3000))
            buf.push(total[pos : pos + step])
            pos += step
        frame = buf.pop_frame()
        if frame is not None:
            out += frame
    assert bytes(out[: len(total)]) == total
    assert buf.played_samples == 200_000
    assert len(buf._buf) < 64 * 1024 + 3000


def test_overflow_is_refused_with_named_limit() -> None:
    buf = PlayoutBuffer(max_queued_seconds=0.1)  # 1600 samples
    buf.push(ramp(1600))
    with pytest.raises(BufferOverflowError):
        buf.push(ramp(1))
    assert buf.queued_samples == 1600
    buf.pop_frame()
    buf.push(ramp(320))
    assert buf.queued_samples == 1600


def test_other_rates_and_frame_sizes() -> None:
    buf = PlayoutBuffer(sample_rate=8000, frame_ms=10)
    assert buf.frame_size == 160
    assert buf.frame_samples == 80
    buf.push(ramp(80))
    frame = buf.pop_frame()
    assert frame is not None and len(frame) == 160
    assert buf.queued_seconds == 0.0
    assert buf.played_seconds == 0.01


@pytest.mark.parametrize(("rate", "ms"), [(0, 20), (16000, 0), (10, 20)])
def test_bad_construction_is_rejected(rate: int, ms: int) -> None:
    with pytest.raises(ValueError):
        PlayoutBuffer(rate, ms)
