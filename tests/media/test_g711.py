"""G.711 tables against the standard library's reference coder, over every input."""

from __future__ import annotations

import audioop
from collections.abc import Callable

import numpy as np
import pytest

from media.codecs import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from media.codecs.g711 import ULAW_ENCODE_TABLE, alaw_decode_samples, ulaw_decode_samples
from media.errors import InvalidAudioError

EVERY_SAMPLE = np.arange(-32768, 32768, dtype=np.int32).astype("<i2").tobytes()
EVERY_CODE = bytes(range(256))

Codec = Callable[[bytes], bytes]
LAWS = [
    pytest.param(ulaw_encode, ulaw_decode, audioop.lin2ulaw, audioop.ulaw2lin, id="ulaw"),
    pytest.param(alaw_encode, alaw_decode, audioop.lin2alaw, audioop.alaw2lin, id="alaw"),
]


@pytest.mark.parametrize(("encode", "decode", "ref_encode", "ref_decode"), LAWS)
def test_encode_is_bit_exact_for_all_65536_samples(
    encode: Codec, decode: Codec, ref_encode: Callable[..., bytes], ref_decode: Callable[..., bytes]
) -> None:
    ours = encode(EVERY_SAMPLE)
    assert len(ours) == 65536
    assert ours == ref_encode(EVERY_SAMPLE, 2)


@pytest.mark.parametrize(("encode", "decode", "ref_encode", "ref_decode"), LAWS)
def test_decode_is_bit_exact_for_all_256_codes(
    encode: Codec, decode: Codec, ref_encode: Callable[..., bytes], ref_decode: Callable[..., bytes]
) -> None:
    ours = decode(EVERY_CODE)
    assert len(ours) == 512
    assert ours == ref_decode(EVERY_CODE, 2)


@pytest.mark.parametrize(("encode", "decode", "ref_encode", "ref_decode"), LAWS)
def test_decode_then_encode_is_identity_on_codes(
    encode: Codec, decode: Codec, ref_encode: Callable[..., bytes], ref_decode: Callable[..., bytes]
) -> None:
    # mu-law has two codes for zero (0x7F, 0xFF); both decode to 0, which encodes as 0xFF.
    back = encode(decode(EVERY_CODE))
    diffs = [c for c in range(256) if back[c] != c]
    assert diffs in ([], [0x7F])


@pytest.mark.parametrize(("encode", "decode", "ref_encode", "ref_decode"), LAWS)
def test_round_trip_error_is_bounded(
    encode: Codec, decode: Codec, ref_encode: Callable[..., bytes], ref_decode: Callable[..., bytes]
) -> None:
    x = np.frombuffer(EVERY_SAMPLE, dtype=np.int16).astype(np.int64)
    y = np.frombuffer(decode(encode(EVERY_SAMPLE)), dtype=np.int16).astype(np.int64)
    error = np.abs(y - x)
    # Logarithmic quantisation: the error grows with the magnitude, ~3% of it.
    assert np.all(error <= np.maximum(64, np.abs(x) // 16 + 16))
    assert np.all(np.sign(y[np.abs(x) > 64]) == np.sign(x[np.abs(x) > 64]))


def test_empty_input() -> None:
    for codec in (ulaw_encode, ulaw_decode, alaw_encode, alaw_decode):
        assert codec(b"") == b""


@pytest.mark.parametrize("encode", [ulaw_encode, alaw_encode])
def test_encode_rejects_half_samples(encode: Codec) -> None:
    with pytest.raises(InvalidAudioError):
        encode(b"\x00\x01\x02")


def test_known_values() -> None:
    # Spot values from the standard: silence and full scale.
    assert ulaw_encode(np.array([0], "<i2").tobytes()) == b"\xff"
    assert ulaw_encode(np.array([32767], "<i2").tobytes()) == b"\x80"
    assert ulaw_encode(np.array([-32768], "<i2").tobytes()) == b"\x00"
    assert alaw_encode(np.array([0], "<i2").tobytes()) == b"\xd5"
    assert alaw_encode(np.array([-1], "<i2").tobytes()) == b"\x55"


def test_tables_are_read_only() -> None:
    with pytest.raises(ValueError):
        ULAW_ENCODE_TABLE[0] = 1


def test_encode_accepts_memoryview_and_bytearray() -> None:
    pcm = np.arange(-1000, 1000, 7, dtype="<i2").tobytes()
    assert ulaw_encode(bytearray(pcm)) == ulaw_encode(pcm)  # type: ignore[arg-type]
    assert ulaw_encode(memoryview(pcm)) == ulaw_encode(pcm)  # type: ignore[arg-type]


def test_float_decoding_gives_the_same_samples_as_pcm16_decoding() -> None:
    codes = bytes(range(256))
    for decode, decode_samples in ((ulaw_decode, ulaw_decode_samples),
                                   (alaw_decode, alaw_decode_samples)):  # fmt: skip
        samples = decode_samples(codes)
        assert samples.dtype == np.float32
        assert samples.tolist() == np.frombuffer(decode(codes), "<i2").astype(float).tolist()
