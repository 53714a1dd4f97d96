"""A low-latency streaming polyphase FIR resampler for rational rate ratios.

soxr processes audio in large internal blocks: fed 20 ms frames at 8 kHz it
holds back 60-115 ms of audio, in each direction of a phone call. This
resampler emits every output sample as soon as the input it depends on has
arrived, so the only delay is half its filter: about 2.3 ms at 8 <-> 16 kHz.

That delay is put into the output stream rather than held back: the output
starts with ``delay_samples`` samples of the filter's lead-in (the response
to the silence before the stream), and output ``j`` is the input signal at
``j - delay_samples``. So a chunk of input worth a whole number of output
samples yields exactly that many, from the first chunk on: a 20 ms frame in
is a 20 ms frame out, and a reframer downstream never waits most of a frame
for the filter's last few samples. ``flush`` emits the last ``delay_samples``.

The filter is a Kaiser-windowed sinc designed once per rate pair, split into
``L`` phases (``out/in = L/M`` in lowest terms). Output ``j`` sits at
position ``j*M`` on the ``L``-times upsampled grid and is one dot product of
the latest input samples with one phase.

A stream fed fixed-size chunks (a 20 ms frame every 20 ms) repeats the same
block shape every call: the same number of outputs, the same phases, the same
buffer length. Once such a shape has been seen twice its outputs are computed
as one matrix product with a precomputed (buffer x outputs) matrix holding the
phases at their offsets, shared by every stream of that rate pair: one BLAS
call instead of a correlation per phase and part. Same taps, same inputs; only
the float32 summation order differs (well under one PCM16 step).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Float64Array = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]

# Zero crossings of the sinc on each side: longer filters are sharper and later.
ZERO_CROSSINGS = 16
# Kaiser beta: ~80 dB of stop-band attenuation.
KAISER_BETA = 8.0
# Pass band as a fraction of the lower rate's Nyquist frequency. With the
# transition band of this filter, the stop band starts right at Nyquist.
PASSBAND = 0.88
# Largest L or M served: cost per output grows with M and the bank with L, so
# awkward ratios such as 22050 -> 16000 (320/441) are left to soxr.
MAX_RATIO_TERM = 8
# Block matrices: built for a shape seen this many times, at most this many
# per rate pair and this large (buffer x outputs floats), so ragged chunking
# falls back to the per-phase path instead of filling memory.
BLOCK_AFTER_SIGHTINGS = 2
MAX_BLOCKS = 4
MAX_BLOCK_FLOATS = 1 << 19  # 2 MiB of float32
MAX_SHAPES_WATCHED = 64


def supports(in_rate: int, out_rate: int) -> bool:
    """True when the reduced ratio ``L/M`` has both terms within ``MAX_RATIO_TERM``."""
    g = math.gcd(in_rate, out_rate)
    return max(in_rate // g, out_rate // g) <= MAX_RATIO_TERM


@dataclass(frozen=True, slots=True)
class _Design:
    up: int  # L
    down: int  # M
    center: int  # filter centre on the upsampled grid
    taps: int  # K, taps per phase
    # The output stream is late by ``shift`` whole output samples (centre // M);
    # output j sits at ``j*M + lead`` on the grid, ``lead`` = centre mod M < M.
    shift: int
    lead: int
    # parts[r][m]: taps m, m+M, m+2M, ... of phase r (reversed, gain L folded in)
    parts: tuple[tuple[Float32Array, ...], ...]
    # bank_rev[r]: phase r's taps, reversed, oldest input first (gain L folded in)
    bank_rev: Float32Array
    # Block matrices by shape (see ``_block_matrix``), shared by all streams.
    blocks: dict[tuple[int, int, int, int], Float32Array] = field(default_factory=dict)
    seen: dict[tuple[int, int, int, int], int] = field(default_factory=dict)


@functools.cache
def _design(in_rate: int, out_rate: int) -> _Design:
    g = math.gcd(in_rate, out_rate)
    up, down = out_rate // g, in_rate // g
    if max(up, down) > MAX_RATIO_TERM:
        raise ValueError(f"rate ratio {out_rate}/{in_rate} is too awkward for this resampler")
    cutoff_hz = 0.5 * min(in_rate, out_rate) * PASSBAND
    grid_hz = in_rate * up  # the upsampled grid's rate
    wc = cutoff_hz / grid_hz  # cycles per upsampled sample
    center = math.ceil(ZERO_CROSSINGS / (2 * wc))
    length = 2 * center + 1
    n = np.arange(length) - center
    h = 2 * wc * np.sinc(2 * wc * n) * np.kaiser(length, KAISER_BETA)
    h *= up / h.sum()  # unity gain at DC after zero-stuffing by L
    taps = math.ceil(length / up)
    padded = np.zeros(up * taps)
    padded[:length] = h
    bank = padded.reshape(taps, up).T  # bank[r, k] = h[r + k*L]
    bank_rev = bank[:, ::-1]
    parts = tuple(
        tuple(
            np.ascontiguousarray(bank_rev[r, m::down], dtype=np.float32)
            for m in range(min(down, taps))
        )
        for r in range(up)
    )
    bank_rev32 = np.ascontiguousarray(bank_rev, dtype=np.float32)
    bank_rev32.flags.writeable = False
    shift, lead = divmod(center, down)
    return _Design(up, down, center, taps, shift, lead, parts, bank_rev32)


class PolyphaseResampler:
    """Streaming float resampler; the caller converts to and from PCM16.

    Works in float32 at whatever scale it is fed (the filter is linear): the
    PCM16 wrapper feeds raw sample values and so skips two rescalings.
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError("sample rates must be positive")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._d = _design(in_rate, out_rate)
        self.reset()

    @property
    def delay_samples(self) -> int:
        """Output samples by which the output stream lags the input (the lead-in)."""
        return self._d.shift

    @property
    def delay_seconds(self) -> float:
        """How late the output stream is against the input: the filter's delay."""
        return self._d.shift / self.out_rate

    def reset(self) -> None:
        d = self._d
        # Samples before the stream started count as silence.
        self._buf: Float32Array = np.zeros(d.taps - 1, dtype=np.float32)
        self._origin = -(d.taps - 1)  # global index of _buf[0]
        self._total_in = 0
        self._next_out = 0  # global index of the next output sample

    def process(self, x: npt.NDArray[np.floating]) -> Float32Array:
        """Outputs now computable; a new array the caller owns (or a read-only empty one)."""
        if x.size:
            self._buf = np.concatenate((self._buf, x), dtype=np.float32)
            self._total_in += x.size
        return self._emit(self._ready_outputs())

    def flush(self) -> Float32Array:
        """Outputs still owed for the input so far (zeros after its end); then reset."""
        d = self._d
        # ceil: the one-shot output length, after the lead-in (none for no input)
        owed = -(-self._total_in * d.up // d.down) + (d.shift if self._total_in else 0)
        pad = d.center // d.up + d.taps + 1
        self._buf = np.concatenate((self._buf, np.zeros(pad, dtype=np.float32)))
        out = self._emit(owed)
        self.reset()
        return out

    def _ready_outputs(self) -> int:
        # Output j needs input index floor((j*M + lead) / L): solve for the last j.
        # With lead < M, N inputs worth a whole number of outputs yield exactly N*L/M.
        d = self._d
        return max(0, (self._total_in * d.up - 1 - d.lead) // d.down + 1)

    def _emit(self, end: int) -> Float32Array:
        d = self._d
        up, down, taps = d.up, d.down, d.taps
        start = self._next_out
        count = end - start
        if count <= 0:
            return _EMPTY
        buf = self._buf
        pos0 = start * down + d.lead
        n0 = pos0 // up
        key = (count, buf.size, pos0 - n0 * up, n0 - self._origin)
        block = d.blocks.get(key)
        if block is None and len(d.blocks) < MAX_BLOCKS:
            block = _block_matrix(d, key)
        out = buf @ block if block is not None else self._emit_by_phase(start, count)
        self._next_out = end
        # Keep only the history the next output can still reach.
        nxt = end * down + d.lead
        keep_from = nxt // up - taps + 1 - self._origin
        if keep_from > 0:
            self._buf = buf[keep_from:]
            self._origin += keep_from
        return out

    def _emit_by_phase(self, start: int, count: int) -> Float32Array:
        d = self._d
        up, down, taps = d.up, d.down, d.taps
        buf = self._buf
        out: Float32Array | None = None if up == 1 else np.empty(count, dtype=np.float32)
        for r0 in range(min(up, count)):
            pos = (start + r0) * down + d.lead
            n_hi = pos // up
            first = n_hi - taps + 1 - self._origin
            # Outputs j, j+L, j+2L, ... share one phase, and their input windows
            # step by M samples: split the taps by residue mod M so that each
            # part is a plain correlation over every M-th input sample.
            n_rows = (count - r0 + up - 1) // up
            acc: Float32Array | None = None
            for m, coeffs in enumerate(d.parts[pos - n_hi * up]):
                begin = first + m
                stop = begin + (n_rows + coeffs.size - 1) * down
                sub = buf[begin:stop] if down == 1 else buf[begin:stop:down]
                part = np.correlate(sub, coeffs, "valid")
                acc = part if acc is None else acc + part
            assert acc is not None
            if out is None:
                out = acc
            else:
                out[r0::up] = acc
        assert out is not None
        return out


def _block_matrix(d: _Design, key: tuple[int, int, int, int]) -> Float32Array | None:
    """The (buffer x outputs) matrix of one block shape, once it has recurred.

    ``key`` is (outputs, buffer length, phase of the first output, input index
    of the first output's newest tap relative to the buffer's start). Output
    ``j`` is phase ``(phase0 + j*M) mod L`` over the ``K`` inputs ending at
    ``n0 + (phase0 + j*M) // L``, exactly as the per-phase path computes it.
    """
    count, size, phase0, n0 = key
    if count * size > MAX_BLOCK_FLOATS:
        return None
    sightings = d.seen.get(key, 0) + 1
    if sightings < BLOCK_AFTER_SIGHTINGS:
        if len(d.seen) >= MAX_SHAPES_WATCHED:
            d.seen.clear()  # ragged chunking: shapes that do not recur
        d.seen[key] = sightings
        return None
    d.seen.pop(key, None)
    steps = phase0 + np.arange(count) * d.down
    phases = steps % d.up
    firsts = n0 + steps // d.up - d.taps + 1
    if firsts[0] < 0 or firsts[-1] + d.taps > size:
        return None  # not a shape the buffer can serve (never the case in a stream)
    block = np.zeros((size, count), dtype=np.float32)
    rows = firsts[:, None] + np.arange(d.taps)
    block[rows, np.arange(count)[:, None]] = d.bank_rev[phases]
    block.flags.writeable = False
    d.blocks[key] = block
    return block


_EMPTY: Float32Array = np.zeros(0, dtype=np.float32)
_EMPTY.flags.writeable = False
