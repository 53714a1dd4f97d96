"""Framing on the way in and out: a peer's 20 ms message is one pipeline frame, at once.

A resampler that held back its filter's last few samples would make the
reframer wait for the next message before emitting each frame: every frame,
and so every VAD decision, a message (20 ms) late.
"""

from __future__ import annotations

import numpy as np
import pytest

from media.codecs.g711 import ulaw_decode, ulaw_encode
from media.frames import PIPELINE_RATE, Reframer, frame_bytes
from media.resample import StreamResampler
from media.transcode import Encoding, InboundAudio, OutboundAudio

FRAME = frame_bytes(PIPELINE_RATE)  # 640 bytes: 20 ms at 16 kHz


def tone(rate: int, secs: float, freq: float = 300.0) -> np.ndarray:
    t = np.arange(int(rate * secs)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype("<i2")


def test_reframer_cuts_any_chunking_into_whole_frames() -> None:
    r = Reframer(PIPELINE_RATE)
    data = bytes(range(256)) * 12  # 3072 bytes: 4 frames and 512 bytes
    out: list[bytes] = []
    for size in (1, 639, 641, 3, 700, 1088):
        out += r.push(data[:size])
        data = data[size:]
    assert [len(f) for f in out] == [FRAME] * 4
    assert b"".join(out) == (bytes(range(256)) * 12)[: 4 * FRAME]
    assert r.pending_bytes == 512
    r.reset()
    assert r.pending_bytes == 0


def test_twilio_message_is_one_frame_from_the_first() -> None:
    inbound = InboundAudio("mulaw", 8000)
    audio = ulaw_encode(tone(8000, 1.0).tobytes())
    for k in range(50):
        frames = inbound.push(audio[160 * k : 160 * (k + 1)])
        assert [len(f) for f in frames] == [FRAME], f"message {k}"


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
def test_pcm16_message_is_one_frame_from_the_first(rate: int) -> None:
    inbound = InboundAudio("pcm16", rate)
    audio = tone(rate, 0.4).tobytes()
    size = rate // 50 * 2
    for k in range(20):
        assert [len(f) for f in inbound.push(audio[size * k : size * (k + 1)])] == [FRAME]


def test_a_click_comes_out_in_its_own_messages_frame() -> None:
    # Sample 80 of message 3 is in frame 3, late only by the filter's delay.
    delay = StreamResampler(8000, PIPELINE_RATE).delay_samples
    assert 0 < delay <= PIPELINE_RATE * 0.004  # ~2.3 ms, not a frame
    pcm = np.zeros(160 * 6, "<i2")
    pcm[160 * 3 + 80] = 24000
    audio = ulaw_encode(pcm.tobytes())
    inbound = InboundAudio("mulaw", 8000)
    frames = [inbound.push(audio[160 * k : 160 * (k + 1)]) for k in range(6)]
    assert all(len(f) == 1 for f in frames)
    third = np.frombuffer(frames[3][0], "<i2")
    assert int(np.argmax(third)) == 160 + delay
    assert np.abs(np.frombuffer(frames[2][0], "<i2")).max() < 100  # only the far ringing


def test_outbound_frame_is_one_twilio_message_from_the_first() -> None:
    outbound = OutboundAudio("mulaw", 8000)
    pcm = tone(PIPELINE_RATE, 0.4).tobytes()
    sizes = [len(outbound.convert(pcm[FRAME * k : FRAME * (k + 1)])) for k in range(20)]
    assert sizes == [160] * 20
    # The audio is the tone at 8 kHz, late by the filter's delay.
    outbound.reset()
    encoded = b"".join(outbound.convert(pcm[FRAME * k : FRAME * (k + 1)]) for k in range(20))
    out = np.frombuffer(ulaw_decode(encoded), "<i2").astype(float)
    delay = StreamResampler(PIPELINE_RATE, 8000).delay_samples
    ideal = tone(8000, 0.4).astype(float)[: len(out) - delay]
    body = slice(200, -200)
    assert np.abs(out[delay:][body] - ideal[body]).max() < 8000 * 0.05  # mu-law's own step


@pytest.mark.parametrize("chunk", [160, 80, 239])
def test_inbound_at_the_line_rate_only_decodes(chunk: int) -> None:
    """``output_rate`` 8 kHz (a session taking the line's rate): 20 ms frames of the
    decoded G.711, whatever the chunking, one per 160-byte message at once."""
    audio = ulaw_encode(tone(8000, 0.5).tobytes())
    inbound = InboundAudio("mulaw", 8000, output_rate=8000)
    frames: list[bytes] = []
    for start in range(0, len(audio), chunk):
        out = inbound.push(audio[start : start + chunk])
        if chunk == 160:
            assert len(out) == 1
        frames += out
    assert all(len(f) == 320 for f in frames)
    decoded = ulaw_decode(audio)
    assert b"".join(frames) == decoded[: len(frames) * 320]
    assert len(frames) == len(audio) // 160


@pytest.mark.parametrize("encoding", ["mulaw", "alaw"])
def test_outbound_g711_is_the_resampled_pcm16_encoded(encoding: Encoding) -> None:
    """Encoding the filter's float output directly gives exactly the codes of the
    PCM16 route, loud (saturating) frames and a reset included."""
    from media.codecs.g711 import alaw_encode

    encode = ulaw_encode if encoding == "mulaw" else alaw_encode
    outbound = OutboundAudio(encoding, 8000)
    reference = StreamResampler(PIPELINE_RATE, 8000)
    rng = np.random.default_rng(7)
    for k in range(60):
        if k == 40:
            outbound.reset()
            reference.reset()
        loud = 40000 if k % 3 == 0 else 9000
        pcm = rng.normal(0, loud, 320).clip(-32768, 32767).astype("<i2").tobytes()
        assert outbound.convert(pcm) == encode(reference.process(pcm))


@pytest.mark.parametrize(("encoding", "rate"), [("mulaw", 8000), ("alaw", 8000), ("pcm16", 48000)])
def test_outbound_flush_at_a_reply_end_sends_all_of_it(encoding: Encoding, rate: int) -> None:
    """Frame by frame plus ``flush`` is the reply converted in one piece: its last
    ``delay_samples`` come out at the end of that reply, not with the next one."""
    from media.codecs.g711 import alaw_decode, alaw_encode

    encode = {"mulaw": ulaw_encode, "alaw": alaw_encode, "pcm16": bytes}[encoding]
    decode = {"mulaw": ulaw_decode, "alaw": alaw_decode, "pcm16": bytes}[encoding]
    outbound = OutboundAudio(encoding, rate)
    delay = StreamResampler(PIPELINE_RATE, rate).delay_samples
    assert delay > 0
    for reply, secs in enumerate((0.3, 0.46)):
        pcm = tone(PIPELINE_RATE, secs, freq=200.0 + 100 * reply).tobytes()
        sent = [outbound.convert(pcm[k : k + FRAME]) for k in range(0, len(pcm), FRAME)]
        sent.append(outbound.flush())
        assert sent[-1], "the tail goes out when the reply ends"
        out = decode(b"".join(sent))
        one_piece = StreamResampler(PIPELINE_RATE, rate)
        whole = one_piece.process(pcm) + one_piece.flush()
        converted = len(pcm) // 2 * rate // PIPELINE_RATE
        # The reply converted, behind the filter's lead-in; within a sample of it.
        assert abs(len(out) // 2 - (converted + delay)) <= 1
        assert abs(len(out) - len(whole)) <= 2
        if encoding == "pcm16":
            assert out == whole
        else:
            assert b"".join(sent) == encode(whole)
