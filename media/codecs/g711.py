"""G.711 mu-law and A-law (ITU-T G.711), by table lookup.

Tables are computed once at import, vectorised over every possible input:
decoding is a 256-entry int16 table indexed by the code byte, encoding a
65,536-entry uint8 table indexed by the sample's bits read as uint16. A 20 ms
telephone frame then costs one numpy ``take``.

Quantisation follows the reference coder of the standard as every telephony
stack implements it: mu-law works on the 14 most significant bits of a PCM16
sample, A-law on the 13 most significant bits, each with the sign/segment/
step layout of G.711 and the even-bit inversion of the transmitted byte.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from media.errors import InvalidAudioError

_Int = npt.NDArray[np.int32]

# Segment upper bounds (inclusive): segment s of mu-law covers biased
# magnitudes up to 2**(s + 6) - 1; segment s of A-law up to 2**(s + 5) - 1.
_ULAW_SEG_END = np.array([(64 << s) - 1 for s in range(8)], dtype=np.int32)
_ALAW_SEG_END = np.array([(32 << s) - 1 for s in range(8)], dtype=np.int32)
_ULAW_BIAS = 0x84  # 132: added to the magnitude so every segment starts on a power of two
_ULAW_CLIP = 8159  # largest 14-bit magnitude that still fits once biased


def _all_int16() -> _Int:
    """Every int16 value, ordered by its uint16 bit pattern (the encode table's index)."""
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int32)


def _ulaw_encode_values(pcm: _Int) -> _Int:
    x = pcm >> 2  # 14-bit sample (arithmetic shift, as the reference coder does)
    negative = x < 0
    magnitude = np.minimum(np.where(negative, -x, x), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEG_END, magnitude).astype(np.int32)
    # Past the last segment (only the single largest magnitude): saturate.
    overflow = segment >= 8
    segment = np.minimum(segment, 7)
    step = np.where(overflow, 0xF, (magnitude >> (segment + 1)) & 0xF)
    code = (segment << 4) | step
    # The byte on the wire is the complement; the sign bit is set for positives.
    return code ^ np.where(negative, 0x7F, 0xFF)


def _ulaw_decode_values(codes: _Int) -> _Int:
    u = ~codes & 0xFF
    segment = (u >> 4) & 0x7
    magnitude = (((u & 0xF) << 3) + _ULAW_BIAS) << segment
    return np.where(u & 0x80, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS)


def _alaw_encode_values(pcm: _Int) -> _Int:
    x = pcm >> 3  # 13-bit sample
    negative = x < 0
    # One's-complement magnitude for negatives keeps both halves 4096 steps wide.
    magnitude = np.where(negative, -x - 1, x)
    segment = np.searchsorted(_ALAW_SEG_END, magnitude).astype(np.int32)
    shift = np.maximum(segment, 1)
    code = (segment << 4) | ((magnitude >> shift) & 0xF)
    # Even bits are inverted on the wire (0x55); the sign bit is set for positives.
    return code ^ np.where(negative, 0x55, 0xD5)


def _alaw_decode_values(codes: _Int) -> _Int:
    a = codes ^ 0x55
    segment = (a >> 4) & 0x7
    offset: _Int = np.where(segment == 0, 8, 0x108).astype(np.int32)
    magnitude: _Int = (((a & 0xF) << 4) + offset) << np.maximum(segment - 1, 0)
    return np.where(a & 0x80, magnitude, -magnitude)


def _encode_table(encode: Callable[[_Int], _Int]) -> npt.NDArray[np.uint8]:
    values = encode(_all_int16())
    table: npt.NDArray[np.uint8] = np.asarray(values, dtype=np.uint8)
    table.flags.writeable = False
    return table


def _decode_table(decode: Callable[[_Int], _Int]) -> npt.NDArray[np.int16]:
    values = decode(np.arange(256, dtype=np.int32))
    table: npt.NDArray[np.int16] = np.asarray(values, dtype=np.int16)
    table.flags.writeable = False
    return table


ULAW_ENCODE_TABLE = _encode_table(_ulaw_encode_values)
ULAW_DECODE_TABLE = _decode_table(_ulaw_decode_values)
ALAW_ENCODE_TABLE = _encode_table(_alaw_encode_values)
ALAW_DECODE_TABLE = _decode_table(_alaw_decode_values)


def _float_table(table: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    floats: npt.NDArray[np.float32] = table.astype(np.float32)
    floats.flags.writeable = False
    return floats


# The decoded values as float32, for a resampler that works in floats anyway.
ULAW_DECODE_FLOAT = _float_table(ULAW_DECODE_TABLE)
ALAW_DECODE_FLOAT = _float_table(ALAW_DECODE_TABLE)

# ``ndarray.take`` rather than ``np.take``: the function form adds a Python-level
# dispatch that costs as much as the lookup itself on a 20 ms frame.


def _encode(pcm: bytes, table: npt.NDArray[np.uint8]) -> bytes:
    if len(pcm) % 2:
        raise InvalidAudioError("PCM16 audio must hold a whole number of samples")
    return table.take(np.frombuffer(pcm, dtype="<u2")).tobytes()


def _decode(data: bytes, table: npt.NDArray[np.int16]) -> bytes:
    return table.take(np.frombuffer(data, dtype=np.uint8)).astype("<i2", copy=False).tobytes()


def ulaw_decode_samples(data: bytes) -> npt.NDArray[np.float32]:
    """Mu-law bytes to float32 samples at PCM16 scale (-32124.0 to 32124.0)."""
    return ULAW_DECODE_FLOAT.take(np.frombuffer(data, dtype=np.uint8))


def alaw_decode_samples(data: bytes) -> npt.NDArray[np.float32]:
    """A-law bytes to float32 samples at PCM16 scale (-32256.0 to 32256.0)."""
    return ALAW_DECODE_FLOAT.take(np.frombuffer(data, dtype=np.uint8))


_MAX16, _MIN16 = np.float32(32767), np.float32(-32768)


def _encode_samples(x: npt.NDArray[np.float32], table: npt.NDArray[np.uint8]) -> bytes:
    # Saturate and round as PCM16 would be (same codes as encoding the rounded
    # PCM16), then index the table by the sample's bits: no PCM16 bytes between.
    np.minimum(x, _MAX16, out=x)
    np.maximum(x, _MIN16, out=x)
    np.rint(x, out=x)
    return table.take(x.astype(np.int16).view(np.uint16)).tobytes()


def ulaw_encode_samples(x: npt.NDArray[np.float32]) -> bytes:
    """Float32 samples at PCM16 scale (e.g. a resampler's output) to mu-law.

    ``x`` is overwritten (clipped and rounded in place): pass an array you own.
    """
    return _encode_samples(x, ULAW_ENCODE_TABLE)


def alaw_encode_samples(x: npt.NDArray[np.float32]) -> bytes:
    """As ``ulaw_encode_samples``, to A-law."""
    return _encode_samples(x, ALAW_ENCODE_TABLE)


def ulaw_encode(pcm: bytes) -> bytes:
    """PCM16 little-endian mono to mu-law bytes, one byte per sample."""
    return _encode(pcm, ULAW_ENCODE_TABLE)


def _byte_tables(table: npt.NDArray[np.int16]) -> tuple[bytes, bytes]:
    """``bytes.translate`` tables: each code's decoded sample, low byte and high byte."""
    pairs = table.astype("<i2").view(np.uint8).reshape(256, 2)
    return pairs[:, 0].tobytes(), pairs[:, 1].tobytes()


_ULAW_LOW, _ULAW_HIGH = _byte_tables(ULAW_DECODE_TABLE)


def ulaw_decode(data: bytes) -> bytes:
    """Mu-law bytes to PCM16 little-endian mono."""
    # Two byte-to-byte translations interleaved: cheaper than a numpy lookup for 20 ms.
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(_ULAW_LOW)
    out[1::2] = data.translate(_ULAW_HIGH)
    return bytes(out)


def alaw_encode(pcm: bytes) -> bytes:
    """PCM16 little-endian mono to A-law bytes, one byte per sample."""
    return _encode(pcm, ALAW_ENCODE_TABLE)


def alaw_decode(data: bytes) -> bytes:
    """A-law bytes to PCM16 little-endian mono."""
    return _decode(data, ALAW_DECODE_TABLE)
