"""Streaming resampling: frame-by-frame equals one-shot, lengths add up, reset is clean.

The polyphase engine's output is the input delayed by ``delay_samples`` (its
filter's lead-in comes first, ``flush`` emits the rest); soxr holds audio back
and stays time-aligned (``delay_samples`` 0). Either way a whole stream has
``delay_samples`` + in x out/in samples.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import soxr

from media import polyphase, resample
from media.errors import InvalidAudioError
from media.polyphase import PolyphaseResampler, supports
from media.resample import SUPPORTED_RATES, Quality, StreamResampler

PAIRS = list(itertools.permutations(SUPPORTED_RATES, 2))
ENGINES: list[Quality] = ["low_latency", "HQ"]


def sine(rate: int, secs: float, freq: float = 440.0, amp: float = 12000.0) -> bytes:
    t = np.arange(int(rate * secs)) / rate
    return (np.sin(2 * np.pi * freq * t) * amp).astype("<i2").tobytes()


def chunks(pcm: bytes, rate: int, ms: int = 20) -> list[bytes]:
    size = rate * ms // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def as_int(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, "<i2").astype(np.int64)


def stream(r: StreamResampler, pcm: bytes, rate: int) -> bytes:
    return b"".join(r.process(c) for c in chunks(pcm, rate)) + r.flush()


def one_shot(pcm: bytes, in_rate: int, out_rate: int, quality: Quality) -> np.ndarray:
    x = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    if quality == "low_latency":
        r = PolyphaseResampler(in_rate, out_rate)
        y = np.concatenate((r.process(x), r.flush()))
    else:
        y = soxr.resample(x, in_rate, out_rate, quality=quality)
    out: np.ndarray = np.clip(np.rint(y * 32768), -32768, 32767).astype(np.int64)
    return out


@pytest.mark.parametrize("quality", ENGINES)
@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_streamed_in_20ms_frames_equals_one_shot(
    in_rate: int, out_rate: int, quality: Quality
) -> None:
    pcm = sine(in_rate, 1.0)
    r = StreamResampler(in_rate, out_rate, quality=quality)
    streamed = as_int(stream(r, pcm, in_rate))
    ref = one_shot(pcm, in_rate, out_rate, quality)
    assert len(streamed) == len(ref) == out_rate + r.delay_samples
    assert np.abs(streamed - ref).max() <= 1


@pytest.mark.parametrize("quality", ENGINES)
@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_output_is_the_same_sine_at_the_new_rate(
    in_rate: int, out_rate: int, quality: Quality
) -> None:
    # Late by exactly ``delay_samples`` (0 for soxr) and accurate to a few LSB.
    r = StreamResampler(in_rate, out_rate, quality=quality)
    y = as_int(stream(r, sine(in_rate, 0.5), in_rate))[r.delay_samples :]
    ideal = as_int(sine(out_rate, 0.5))
    assert len(y) == len(ideal)
    body = slice(out_rate // 20, -out_rate // 20)  # leave out the ramps at the ends
    assert np.abs(y[body] - ideal[body]).max() <= 8


@pytest.mark.parametrize("quality", ENGINES)
@pytest.mark.parametrize(("in_rate", "out_rate"), [(8000, 16000), (16000, 8000), (48000, 16000)])
def test_no_clicks_at_frame_edges(in_rate: int, out_rate: int, quality: Quality) -> None:
    # A click is a jump far larger than a 440 Hz sine ever makes between samples.
    y = as_int(
        stream(StreamResampler(in_rate, out_rate, quality=quality), sine(in_rate, 2.0), in_rate)
    )
    max_step = 2 * np.pi * 440 / out_rate * 12000 * 1.05 + 2
    body = y[out_rate // 10 : -out_rate // 10]
    assert np.abs(np.diff(body)).max() <= max_step


@pytest.mark.parametrize("quality", ENGINES)
@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_length_accounting_over_a_long_stream(
    in_rate: int, out_rate: int, quality: Quality
) -> None:
    r = StreamResampler(in_rate, out_rate, quality=quality)
    frame = sine(in_rate, 0.02)
    produced = 0
    n_frames = 1500  # thirty seconds
    for _ in range(n_frames):
        produced += len(r.process(frame)) // 2
    produced += len(r.flush()) // 2
    expected = n_frames * (out_rate * 20 // 1000) + r.delay_samples
    assert abs(produced - expected) <= 1
    assert r.samples_in == n_frames * in_rate * 20 // 1000
    assert r.samples_out == produced


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_low_latency_engine_turns_each_frame_into_one_frame_from_the_first(
    in_rate: int, out_rate: int
) -> None:
    r = StreamResampler(in_rate, out_rate)
    assert r.engine == "polyphase"
    frame = sine(in_rate, 0.02)
    for _ in range(100):
        assert len(r.process(frame)) == 2 * out_rate // 50  # nothing held back
    assert r.samples_out == 100 * out_rate // 50
    assert len(r.flush()) == 2 * r.delay_samples


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_low_latency_output_is_the_input_late_by_under_4_ms(in_rate: int, out_rate: int) -> None:
    # A click at input sample n peaks at output sample n*out/in + delay_samples.
    r = StreamResampler(in_rate, out_rate)
    assert 0 < r.delay_samples <= out_rate * 0.004
    at = in_rate // 10
    click = np.zeros(in_rate // 5, "<i2")
    click[at] = 20000
    y = as_int(stream(r, click.tobytes(), in_rate))
    assert int(np.argmax(y)) == at * out_rate // in_rate + r.delay_samples


@pytest.mark.parametrize(("in_rate", "out_rate"), [p for p in PAIRS if supports(*p)])
def test_ragged_chunks_hold_back_under_one_output_sample(in_rate: int, out_rate: int) -> None:
    # Every output the input so far can give is out: under one output sample
    # either way of the exact rate ratio, whatever the chunking.
    rng = np.random.default_rng(11)
    r = StreamResampler(in_rate, out_rate)
    for _ in range(200):
        r.process(bytes(2 * int(rng.integers(1, 300))))
        owed = r.samples_in * out_rate / in_rate - r.samples_out
        assert -1 < owed < 1


def test_low_latency_downsampling_rejects_aliases_and_keeps_the_passband() -> None:
    def level(freq: float) -> float:
        r = StreamResampler(16000, 8000)
        y = as_int(stream(r, sine(16000, 0.5, freq=freq, amp=10000), 16000))[400:-400]
        rms = np.sqrt(np.mean(y.astype(float) ** 2)) + 1e-9  # a perfect reject rounds to 0
        return float(20 * np.log10(rms / (10000 / np.sqrt(2))))

    assert level(1000) == pytest.approx(0.0, abs=0.1)
    assert level(3000) == pytest.approx(0.0, abs=0.5)
    assert level(4400) < -60  # folds to 3600 Hz if not filtered
    assert level(6000) < -60


@pytest.mark.parametrize("quality", ENGINES)
def test_reset_starts_a_fresh_stream(quality: Quality) -> None:
    pcm = sine(8000, 0.5)
    expected = stream(StreamResampler(8000, 16000, quality=quality), pcm, 8000)
    r = StreamResampler(8000, 16000, quality=quality)
    for c in chunks(sine(8000, 0.3, freq=1000), 8000):
        r.process(c)  # audio that a barge-in cuts short
    r.reset()
    assert stream(r, pcm, 8000) == expected


@pytest.mark.parametrize("quality", ENGINES)
def test_flush_then_reuse_behaves_like_new(quality: Quality) -> None:
    pcm = sine(16000, 0.3)
    r = StreamResampler(16000, 24000, quality=quality)
    first = stream(r, pcm, 16000)
    assert stream(r, pcm, 16000) == first
    assert r.flush() == b""


@pytest.mark.parametrize("quality", ENGINES)
def test_ragged_chunks_equal_regular_chunks(quality: Quality) -> None:
    pcm = sine(16000, 0.5)
    regular = stream(StreamResampler(16000, 8000, quality=quality), pcm, 16000)
    b = StreamResampler(16000, 8000, quality=quality)
    ragged = b"".join(b.process(pcm[i : i + 2 * 77]) for i in range(0, len(pcm), 2 * 77))
    assert as_int(ragged + b.flush()).tolist() == pytest.approx(as_int(regular).tolist(), abs=1)


def test_identity_passthrough() -> None:
    r = StreamResampler(16000, 16000)
    pcm = sine(16000, 0.02)
    assert r.passthrough
    assert r.process(pcm) == pcm
    assert r.flush() == b""
    r.reset()
    assert r.samples_in == r.samples_out == 320


def test_awkward_ratios_fall_back_to_soxr() -> None:
    assert not supports(22050, 16000)
    r = StreamResampler(22050, 16000)
    assert r.engine == "soxr-HQ"
    out = stream(r, sine(22050, 0.5), 22050)
    assert abs(len(out) // 2 - 8000) <= 1
    assert StreamResampler(8000, 16000, quality="LQ").engine == "soxr-LQ"


def test_loud_input_saturates_instead_of_wrapping() -> None:
    square = np.where(np.arange(8000) % 40 < 20, 32767, -32768).astype("<i2").tobytes()
    for quality in ENGINES:
        r = StreamResampler(8000, 16000, quality=quality)
        y = as_int(r.process(square) + r.flush())
        assert y.max() == 32767  # Gibbs overshoot clips at full scale...
        assert y.min() == -32768
        assert (np.abs(np.diff(y)) < 60000).all()  # ...rather than wrapping to the other sign


def test_empty_and_bad_input() -> None:
    r = StreamResampler(8000, 16000)
    assert r.process(b"") == b""
    with pytest.raises(InvalidAudioError):
        r.process(b"\x00\x01\x02")
    with pytest.raises(ValueError):
        StreamResampler(0, 16000)
    with pytest.raises(ValueError):
        StreamResampler(8000, 16000, quality="best")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PolyphaseResampler(22050, 16000)


@pytest.mark.parametrize(("in_rate", "out_rate"), [(8000, 16000), (16000, 16000), (16000, 8000)])
def test_float_samples_in_equal_pcm16_in(in_rate: int, out_rate: int) -> None:
    pcm = sine(in_rate, 0.2)
    from_bytes = StreamResampler(in_rate, out_rate)
    from_floats = StreamResampler(in_rate, out_rate)
    for chunk in chunks(pcm, in_rate):
        floats = np.frombuffer(chunk, "<i2").astype(np.float32)
        assert from_floats.process_samples(floats) == from_bytes.process(chunk)
    assert from_floats.samples_in == from_bytes.samples_in
    assert from_floats.samples_out == from_bytes.samples_out


def _noise(rate: int, secs: float) -> np.ndarray:
    return (np.random.default_rng(7).standard_normal(int(rate * secs)) * 8000).astype(np.float32)


@pytest.mark.parametrize(("in_rate", "out_rate"), [p for p in PAIRS if supports(*p)])
def test_fixed_chunks_take_the_block_path_and_match_one_shot(in_rate: int, out_rate: int) -> None:
    design = polyphase._design(in_rate, out_rate)
    design.blocks.clear()  # a shared cache: start this rate pair without one
    design.seen.clear()
    x = _noise(in_rate, 0.5)
    n = in_rate // 50
    one_shot_r = PolyphaseResampler(in_rate, out_rate)
    ref = np.concatenate((one_shot_r.process(x), one_shot_r.flush()))
    streamed_r = PolyphaseResampler(in_rate, out_rate)
    parts = [streamed_r.process(x[i : i + n]) for i in range(0, x.size, n)]
    streamed = np.concatenate((*parts, streamed_r.flush()))
    assert streamed.shape == ref.shape
    # Same taps over the same inputs: only float32 rounding differs (PCM16 scale).
    assert np.abs(streamed - ref).max() < 0.05
    # The shape that recurs, a 20 ms chunk in and out per call, has its matrix.
    assert any(count == out_rate // 50 for count, *_ in design.blocks)


def test_ragged_chunks_keep_the_shape_caches_bounded() -> None:
    rng = np.random.default_rng(3)
    x = _noise(8000, 4.0)
    r = PolyphaseResampler(8000, 16000)
    ref = PolyphaseResampler(8000, 16000)
    out, i = [], 0
    while i < x.size:
        size = int(rng.integers(1, 400))
        out.append(r.process(x[i : i + size]))
        i += size
    streamed = np.concatenate((*out, r.flush()))
    one_shot = np.concatenate((ref.process(x), ref.flush()))
    assert np.abs(streamed - one_shot).max() < 0.05
    design = polyphase._design(8000, 16000)
    assert len(design.blocks) <= polyphase.MAX_BLOCKS
    assert len(design.seen) <= polyphase.MAX_SHAPES_WATCHED


def test_in_place_rounding_equals_the_copying_one() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate(
        (
            rng.standard_normal(4000) * 40000,  # a third saturates
            np.arange(-10, 10) + 0.5,  # ties round to even
            [32767.4, 32767.5, -32768.5, -32768.6, 0.0, -0.0],
        )
    ).astype(np.float32)
    expected = resample._to_int16(values)
    owned = values.copy()
    assert resample._owned_to_int16(owned) == expected
    assert resample._owned_to_int16(np.zeros(0, dtype=np.float32)) == b""
