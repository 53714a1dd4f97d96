"""SileroWorker: windows scored in one thread, results back on the loop, in order, bounded.

A fake model (``CountingModel``) makes every result predictable: a window's
"probability" is its mean absolute sample value and the RNN state counts the
windows a stream has been through, so order, batching and per-stream state are
checked exactly. Nothing here asserts how fast anything is: waits are bounded
only so that a bug fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

import numpy as np
import pytest

from media.frames import PIPELINE_RATE, AudioFrame
from media.vad.base import DeferredVoiceActivityDetector
from media.vad.silero import Float32Array, SileroVad
from media.vad.worker import SileroWorker, SileroWorkerStream

WINDOW = 512
FRAME = 320
WINDOW_SECS = WINDOW / PIPELINE_RATE
WAIT = 10.0  # generous bound: only a bug makes a wait this long


class CountingModel:
    """Probability = mean |sample| of the window; state += 1 per window seen."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail_next = False

    def __call__(
        self, inputs: Float32Array, state: Float32Array
    ) -> tuple[Float32Array, Float32Array]:
        self.entered.set()
        assert self.gate.wait(WAIT)
        self.batch_sizes.append(inputs.shape[0])
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("model exploded")
        probs = np.abs(inputs[:, 64:]).mean(axis=1).astype(np.float32)
        return probs, (state + 1.0).astype(np.float32)


class Collector:
    """A stream's sink: records (start, duration, probability); wakes a waiter at ``want``."""

    def __init__(self) -> None:
        self.got: list[tuple[float, float, float]] = []
        self.want = 0
        self.reached = asyncio.Event()

    def __call__(self, start: float, duration: float, probability: float) -> None:
        self.got.append((start, duration, probability))
        if len(self.got) >= self.want:
            self.reached.set()

    async def wait_for(self, n: int) -> None:
        self.want = n
        if len(self.got) >= n:
            return
        self.reached.clear()
        await asyncio.wait_for(self.reached.wait(), WAIT)


def frame(level: int, ts: float, samples: int = FRAME) -> AudioFrame:
    return AudioFrame(np.full(samples, level, dtype=np.int16).tobytes(), PIPELINE_RATE, ts)


def bound(stream: SileroWorkerStream) -> Collector:
    sink = Collector()
    stream.bind(sink)
    return sink


def expected(levels: list[int]) -> list[float]:
    """What one ``SileroVad`` per stream would report per frame, under ``CountingModel``:
    the score of the last window complete at the end of each frame (0 before the first)."""
    samples = np.repeat(np.array(levels, dtype=np.float64), FRAME) / 32768.0
    out = []
    for k in range(len(levels)):
        last = (k + 1) * FRAME // WINDOW - 1
        out.append(0.0 if last < 0 else samples[last * WINDOW : (last + 1) * WINDOW].mean())
    return out


async def test_every_frame_comes_back_in_order_with_its_windows_score() -> None:
    model = CountingModel()
    # All the audio is pushed at once: room for all of it, so nothing is dropped.
    worker = SileroWorker(infer=model, max_pending_secs=10.0)
    a, b = worker.open_stream(), worker.open_stream()
    assert isinstance(a, DeferredVoiceActivityDetector)
    sink_a, sink_b = bound(a), bound(b)
    # 41 frames each: 25 complete windows, the last frame completes none. Stream
    # a's level rises frame by frame, so every score tells which samples it saw.
    for k in range(41):
        a.push(frame(100 * k, 10.0 + k * 0.02))
        b.push(frame(3000, 50.0 + k * 0.02))
    await sink_a.wait_for(41)
    await sink_b.wait_for(41)
    assert [t for t, _d, _p in sink_a.got] == pytest.approx([10.0 + k * 0.02 for k in range(41)])
    assert all(d == pytest.approx(0.02) for _t, d, _p in sink_a.got)
    assert [p for _t, _d, p in sink_a.got] == pytest.approx(expected([100 * k for k in range(41)]))
    assert [p for _t, _d, p in sink_b.got] == pytest.approx(expected([3000] * 41))
    # Each stream's RNN state went through exactly its own 25 windows.
    assert float(a._state.state.max()) == 25.0 and float(b._state.state.max()) == 25.0
    assert worker.windows_run == 50
    await worker.aclose()
    assert not worker.running


async def test_windows_that_fill_during_an_inference_form_one_batch() -> None:
    model = CountingModel()
    model.gate.clear()
    worker = SileroWorker(infer=model)
    streams = [worker.open_stream() for _ in range(5)]
    sinks = [bound(s) for s in streams]
    streams[0].push(frame(1000, 0.0, WINDOW))
    assert await asyncio.to_thread(model.entered.wait, WAIT)  # worker is inside inference
    for s in streams[1:]:
        s.push(frame(1000, 0.0, WINDOW))
    model.gate.set()
    for sink in sinks:
        await sink.wait_for(1)
    # The first window went alone, as soon as it was full; the four that arrived
    # meanwhile were scored together in the next call.
    assert model.batch_sizes == [1, 4]
    assert worker.inferences == 2
    await worker.aclose()


async def test_max_batch_splits_a_round_and_a_stream_behind_catches_up_in_order() -> None:
    model = CountingModel()
    model.gate.clear()
    worker = SileroWorker(infer=model, max_batch=2)
    streams = [worker.open_stream() for _ in range(3)]
    sinks = [bound(s) for s in streams]
    streams[0].push(frame(1, 0.0, WINDOW))
    assert await asyncio.to_thread(model.entered.wait, WAIT)
    for i, s in enumerate(streams):
        s.push(frame(10 * (i + 1), 1.0, 3 * WINDOW))  # three windows in one frame
        s.push(frame(20 * (i + 1), 2.0, WINDOW))
    model.gate.set()
    await sinks[0].wait_for(3)
    await sinks[1].wait_for(2)
    await sinks[2].wait_for(2)
    assert max(model.batch_sizes) == 2
    assert sum(model.batch_sizes) == 1 + 3 * 4
    # Each frame gets the score of its own last window, in push order.
    assert [(t, p * 32768) for t, _d, p in sinks[0].got] == pytest.approx(
        [(0.0, 1.0), (1.0, 10.0), (2.0, 20.0)], rel=1e-4
    )
    assert [(t, p * 32768) for t, _d, p in sinks[2].got] == pytest.approx(
        [(1.0, 30.0), (2.0, 60.0)], rel=1e-4
    )
    await worker.aclose()


async def test_unscored_audio_is_bounded_per_stream() -> None:
    model = CountingModel()
    model.gate.clear()
    worker = SileroWorker(infer=model, max_pending_secs=0.1)  # 3 windows of 32 ms
    stream = worker.open_stream()
    sink = bound(stream)
    stream.push(frame(1, 0.0, WINDOW))
    assert await asyncio.to_thread(model.entered.wait, WAIT)
    for k in range(100):  # 2 s while the worker is stuck
        stream.push(frame(1000, 1.0 + k * 0.02))
        assert stream._state.pending_windows <= worker.max_pending_windows == 3
        assert len(stream._frames) <= 2 * worker.max_pending_windows + 4
    assert stream.windows_dropped == worker.windows_dropped > 0
    assert stream.frames_unscored > 0
    model.gate.set()
    await sink.wait_for(101)
    # Every frame was still reported, in order; those whose windows were dropped
    # carry the last score known, the rest their own window's.
    assert [t for t, _d, _p in sink.got[1:]] == pytest.approx([1.0 + k * 0.02 for k in range(100)])
    assert sink.got[-1][2] == pytest.approx(1000 / 32768.0)
    await worker.aclose()


async def test_reset_while_in_flight_drops_that_result_and_keeps_the_fresh_state() -> None:
    model = CountingModel()
    model.gate.clear()
    worker = SileroWorker(infer=model)
    stream = worker.open_stream()
    sink = bound(stream)
    stream.push(frame(500, 0.0, WINDOW))
    assert await asyncio.to_thread(model.entered.wait, WAIT)
    stream.reset()
    model.gate.set()
    stream.push(frame(700, 5.0, WINDOW))
    await sink.wait_for(1)
    assert sink.got == [pytest.approx((5.0, WINDOW_SECS, 700 / 32768.0), rel=1e-5)]
    assert float(stream._state.state.max()) == 1.0  # only the post-reset window
    await worker.aclose()


async def until(condition: Callable[[], bool]) -> None:
    """Poll a condition that a worker thread will make true (bounded: a bug fails, not hangs)."""
    for _ in range(int(WAIT / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


async def test_a_failing_sink_or_inference_does_not_stop_the_others() -> None:
    model = CountingModel()
    worker = SileroWorker(infer=model)
    bad, good = worker.open_stream(), worker.open_stream()

    def explode(_s: float, _d: float, _p: float) -> None:
        raise ValueError("session bug")

    bad.bind(explode)
    sink = bound(good)
    model.fail_next = True
    good.push(frame(1, 0.0, WINDOW))  # lost to the failed inference
    await until(lambda: worker.errors == 1)
    bad.push(frame(1, 1.0, WINDOW))
    await until(lambda: worker.errors == 2)  # the bad sink raised on the loop, was counted
    good.push(frame(2, 1.0, WINDOW))
    await sink.wait_for(2)
    # The frame whose window was lost is reported with the next score, in order.
    assert [(t, p * 32768) for t, _d, p in sink.got] == pytest.approx(
        [(0.0, 2.0), (1.0, 2.0)], rel=1e-4
    )
    assert worker.running
    await worker.aclose()


async def test_closed_streams_get_nothing_and_close_stops_the_thread() -> None:
    model = CountingModel()
    worker = SileroWorker(infer=model)
    gone, kept = worker.open_stream(), worker.open_stream()
    gone_sink, kept_sink = bound(gone), bound(kept)
    gone.close()
    gone.close()
    gone.push(frame(1, 0.0, WINDOW))
    kept.push(frame(1, 0.0, WINDOW))
    await kept_sink.wait_for(1)
    assert gone_sink.got == []
    assert worker.stream_count == 1
    assert worker.running
    await worker.aclose()
    assert not worker.running
    with pytest.raises(RuntimeError):
        worker.open_stream()


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        SileroWorker(infer=CountingModel(), max_batch=0)
    with pytest.raises(ValueError):
        SileroWorker(infer=CountingModel(), max_pending_secs=0)
    with pytest.raises(ValueError):
        SileroWorker(44_100, infer=CountingModel())


@pytest.mark.slow
async def test_real_silero_reports_what_one_model_per_stream_says(speech_pcm: bytes) -> None:
    # All the audio is pushed at once: room for all of it, so nothing is dropped.
    worker = SileroWorker(max_pending_secs=10.0)
    streams = [worker.open_stream() for _ in range(3)]
    sinks = [bound(s) for s in streams]
    # Different audio per stream: speech, quiet speech, silence.
    audio = [
        speech_pcm,
        (np.frombuffer(speech_pcm, np.int16) // 4).astype(np.int16).tobytes(),
        bytes(len(speech_pcm)),
    ]
    n_frames = len(speech_pcm) // (2 * FRAME)
    singles = [SileroVad() for _ in audio]
    want: list[list[float]] = [[] for _ in audio]
    for k in range(n_frames):
        for s, pcm, single, w in zip(streams, audio, singles, want, strict=True):
            chunk = pcm[k * 2 * FRAME : (k + 1) * 2 * FRAME]
            s.push(AudioFrame(chunk, PIPELINE_RATE, k * 0.02))
            w.append(single.speech_probability(chunk))
    for sink in sinks:
        await sink.wait_for(n_frames)
    for sink, w in zip(sinks, want, strict=True):
        assert [p for _t, _d, p in sink.got] == pytest.approx(w, abs=1e-5)
    assert max(want[0]) > 0.9
    assert max(want[2]) < 0.1
    await worker.aclose()


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread nice is a Linux feature")
async def test_the_worker_yields_the_core_to_the_event_loop() -> None:
    worker = SileroWorker(infer=CountingModel(), thread_nice=3)
    stream = worker.open_stream()
    sink = bound(stream)
    stream.push(frame(1, 0.0, WINDOW))
    await sink.wait_for(1)  # the thread has started and set its priority
    thread = worker._thread
    assert thread is not None and thread.native_id is not None
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == min(19, loop_nice + 3)
    await worker.aclose()
