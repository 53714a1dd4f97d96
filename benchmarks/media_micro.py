"""Per-frame CPU cost of the media core's hot paths.

Prints a table and writes ``benchmarks/results/media_micro.json``. Numbers are
CPU time on this machine, single-threaded; they are recorded, never asserted.

    python benchmarks/media_micro.py [--quick]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from media.codecs import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from media.frames import AudioFrame
from media.jitter import JitterBuffer
from media.playout import PlayoutBuffer
from media.resample import Quality, StreamResampler
from media.vad.detector import SpeechDetector
from media.vad.silero import SileroBatch, SileroVad
from media.vad.webrtc import WebRtcVad

RESULTS = Path(__file__).parent / "results" / "media_micro.json"
FRAME_16K = 640  # bytes in 20 ms at 16 kHz
FRAME_8K = 320
RESAMPLE_LATENCY_NOTE = (
    "resample_*_delay_ms: the filter delay the resampler puts into the stream (its output"
    " starts with this much lead-in, so every sample comes out this much later; a reply's"
    " last this-much comes out only at flush). resample_*_held_ms_max: the most audio held"
    " back inside the resampler while streaming 20 ms frames (soxr works in blocks; the"
    " polyphase engine holds none). Added latency per conversion = delay + held."
)


def speechlike(n_samples: int, seed: int = 0) -> bytes:
    """Noise shaped by a slow envelope: exercises VADs on both branches."""
    rng = np.random.default_rng(seed)
    env = (np.sin(np.arange(n_samples) * 2 * np.pi * 2 / 16000) > 0).astype(float)
    tone = np.sin(np.arange(n_samples) * 2 * np.pi * 180 / 16000) * 6000
    x = (tone + rng.standard_normal(n_samples) * 1500) * env
    pcm: bytes = x.astype("<i2").tobytes()
    return pcm


def per_call_us(fn: Callable[[], object], calls: int, repeats: int = 5) -> float:
    """Best of ``repeats`` runs, process CPU time per call in microseconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, time.process_time() - start)
    return best / calls * 1e6


def frame_cycle(frames: list[bytes]) -> Callable[[], bytes]:
    i = [0]

    def next_frame() -> bytes:
        i[0] = (i[0] + 1) % len(frames)
        return frames[i[0]]

    return next_frame


def batch_tick(frames: list[bytes], sessions: int) -> Callable[[], None]:
    """One clock tick: every session hands in a frame, then one batched inference."""
    batch = SileroBatch()
    streams = [batch.open_stream() for _ in range(sessions)]
    cycles = [frame_cycle(frames[k:] + frames[:k]) for k in range(sessions)]

    def one_tick() -> None:
        for stream, cyc in zip(streams, cycles, strict=True):
            stream.speech_probability(cyc())
        batch.run()

    return one_tick


def bench_vad(quick: bool) -> dict[str, Any]:
    pcm = speechlike(16000 * 4)
    frames = [pcm[i : i + FRAME_16K] for i in range(0, len(pcm), FRAME_16K)]
    n = 500 if quick else 3000
    out: dict[str, Any] = {}

    webrtc = WebRtcVad()
    nxt = frame_cycle(frames)
    out["webrtcvad_us_per_frame"] = per_call_us(lambda: webrtc.speech_probability(nxt()), n)

    silero = SileroVad()
    nxt = frame_cycle(frames)
    out["silero_single_us_per_frame"] = per_call_us(lambda: silero.speech_probability(nxt()), n)

    detector = SpeechDetector(WebRtcVad())
    nxt = frame_cycle(frames)
    ts = [0.0]

    def detect() -> None:
        ts[0] += 0.02
        detector.process(AudioFrame(nxt(), 16000, ts[0]))

    out["speech_detector_webrtc_us_per_frame"] = per_call_us(detect, n)

    for sessions in (32, 100):
        ticks = 100 if quick else 400
        per_tick = per_call_us(batch_tick(frames, sessions), ticks, repeats=3)
        out[f"silero_batch{sessions}_us_per_tick"] = per_tick
        out[f"silero_batch{sessions}_us_per_session_frame"] = per_tick / sessions
    return out


def bench_codecs(quick: bool) -> dict[str, Any]:
    n = 5000 if quick else 50000
    pcm8 = speechlike(160)  # one 20 ms frame at 8 kHz
    mu = ulaw_encode(pcm8)
    a = alaw_encode(pcm8)
    return {
        "ulaw_encode_us_per_frame": per_call_us(lambda: ulaw_encode(pcm8), n),
        "ulaw_decode_us_per_frame": per_call_us(lambda: ulaw_decode(mu), n),
        "ulaw_encode_plus_decode_us_per_frame": per_call_us(
            lambda: ulaw_decode(ulaw_encode(pcm8)), n
        ),
        "alaw_encode_plus_decode_us_per_frame": per_call_us(
            lambda: alaw_decode(alaw_encode(pcm8)), n
        ),
        "alaw_decode_us_per_frame": per_call_us(lambda: alaw_decode(a), n),
    }


def bench_resample(quick: bool) -> dict[str, Any]:
    n = 1000 if quick else 10000
    out: dict[str, Any] = {}
    qualities: tuple[Quality, ...] = ("low_latency", "HQ")
    for quality in qualities:
        for src, dst in ((8000, 16000), (16000, 8000), (48000, 16000), (16000, 24000)):
            frame = speechlike(src // 50)
            name = f"resample_{quality}_{src // 1000}k_to_{dst // 1000}k"
            resampler = StreamResampler(src, dst, quality=quality)
            out[f"{name}_us_per_frame"] = per_call_us(
                functools.partial(resampler.process, frame), n
            )
            # What the resampler adds to a stream's latency, two ways. The
            # polyphase engine puts its filter delay into the stream (the output
            # starts with ``delay_samples`` of lead-in) and holds nothing back;
            # soxr stays time-aligned (delay 0) but holds whole blocks back.
            out[f"{name}_delay_ms"] = resampler.delay_samples / dst * 1000
            probe = StreamResampler(src, dst, quality=quality)
            held = []
            for k in range(1, 301):
                probe.process(frame)
                held.append(k * dst / 50 - probe.samples_out)
            out[f"{name}_held_ms_max"] = float(np.max(held[50:]) / dst * 1000)
    return out


def bench_buffers(quick: bool) -> dict[str, Any]:
    n = 20000 if quick else 200000
    buf = PlayoutBuffer()
    chunk = bytes(FRAME_16K)

    def playout() -> None:
        buf.push(chunk)
        buf.pop_frame()

    jb = JitterBuffer()
    seq = [0]

    def jitter() -> None:
        jb.push(seq[0] & 0xFFFF, chunk)
        jb.pop()
        seq[0] += 1

    return {
        "playout_push_pop_us_per_frame": per_call_us(playout, n),
        "jitter_push_pop_us_per_frame": per_call_us(jitter, n),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for part in (bench_codecs, bench_resample, bench_buffers, bench_vad):
        results.update(part(args.quick))
    for key, value in results.items():
        print(f"{key:52s} {value:10.2f}")
    print(textwrap.fill(RESAMPLE_LATENCY_NOTE, 100))
    record = {
        "benchmark": "media_micro",
        "unit": "microseconds of process CPU per call unless the key says ms",
        "resample_latency": RESAMPLE_LATENCY_NOTE,
        "quick": args.quick,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "results": {k: round(v, 3) for k, v in results.items()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
