"""Silero for many sessions: one worker thread scores each window as soon as it is full.

Sessions push 20 ms frames from the event loop. When a stream holds a full
512-sample window it is marked ready and the worker wakes; the worker scores
every ready window in ONE batched inference (onnxruntime releases the GIL, so
the loop keeps serving frames and timers meanwhile). Windows that fill while
it infers make up the next batch, so batches grow with the load by themselves
and nothing waits for a clock tick. The probabilities go back to the event
loop in one callback per batch.

What a stream's sink receives is exactly what a ``SileroVad`` of its own would
have said, frame by frame: each pushed frame, in order, with the probability
of the most recent window complete at the end of that frame. A frame is
reported as soon as that window is scored (at once when it completes none), so
the speech-state machine confirms speech the moment the window that completes
the start window comes back, and counts it in the frames' own audio time.

Everything is bounded: at most ``max_pending_secs`` of unscored audio per
stream (older windows are dropped and counted when the worker falls behind),
at most ``max_batch`` windows per inference, at most one delivery callback
queued on the loop at a time. ``aclose`` stops the thread and waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable

import numpy as np
import onnxruntime as ort

from media.frames import PIPELINE_RATE, AudioFrame
from media.vad.base import ScoreSink
from media.vad.silero import (
    _CONTEXT,
    _WINDOW,
    DEFAULT_MAX_BATCH,
    Float32Array,
    _SileroModel,
    _StreamState,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_PENDING_SECS = 0.5
DEFAULT_CLOSE_TIMEOUT = 2.0
# The worker runs at this much lower CPU priority than the event loop (Linux
# per-thread nice): when a core is short, frames and timers go first and VAD
# results wait, rather than the other way round.
DEFAULT_THREAD_NICE = 5

# (stream, window index, probability, stream generation)
_Result = tuple["SileroWorkerStream", int, float, int]
Infer = Callable[[Float32Array, Float32Array], tuple[Float32Array, Float32Array]]


class SileroWorkerStream:
    """One session's Silero detector on a shared ``SileroWorker``.

    A ``DeferredVoiceActivityDetector``: ``push`` from the event loop, results
    through the sink given to ``bind``, on the loop, one per pushed frame.
    """

    def __init__(self, worker: SileroWorker, state: _StreamState) -> None:
        self._worker = worker
        self._state = state
        self._sink: ScoreSink | None = None
        self.sample_rate = worker.sample_rate
        self.closed = False
        self.windows_dropped = 0
        self.frames_unscored = 0  # reported without waiting for their window's score
        # Frames waiting for their window: (timestamp, duration, index of the
        # last window complete at the frame's end, -1 for none). Bounded like the
        # unscored audio: past ``_max_waiting`` (the worker is stuck) the oldest
        # is reported with the last score known rather than kept.
        self._frames: deque[tuple[float, float, int]] = deque()
        self._max_waiting = 2 * worker.max_pending_windows + 4
        self._resolved = 0  # windows [0, _resolved) have been scored (or dropped)
        self._dropped: deque[tuple[int, int]] = deque()  # window index ranges never scored
        self._probability = 0.0

    def bind(self, sink: ScoreSink) -> None:
        self._sink = sink

    def push(self, frame: AudioFrame) -> None:
        if self.closed:
            return
        last_window = self._worker._push(self, frame)
        self._frames.append((frame.timestamp, frame.duration, last_window))
        self._release()
        if len(self._frames) > self._max_waiting:
            timestamp, duration, _window = self._frames.popleft()
            self.frames_unscored += 1
            if self._sink is not None:
                self._sink(timestamp, duration, self._probability)

    def reset(self) -> None:
        # Windows in flight are forgotten (their results are discarded), frames too.
        self._resolved = self._worker._reset(self)
        self._frames.clear()
        self._dropped.clear()
        self._probability = 0.0

    def close(self) -> None:
        self._worker._remove(self)
        self._frames.clear()

    def _on_dropped(self, first: int, end: int) -> None:
        self.windows_dropped += end - first
        self._dropped.append((first, end))

    def _on_scored(self, index: int, probability: float, generation: int) -> None:
        """On the loop: window ``index`` was scored; report the frames it completes."""
        if self.closed or generation != self._state.generation:
            return  # reset (or closed) while the window was in flight
        self._probability = probability
        self._resolved = max(self._resolved, index + 1)
        self._release()

    def _release(self) -> None:
        dropped = self._dropped
        while dropped and dropped[0][0] <= self._resolved:
            self._resolved = max(self._resolved, dropped.popleft()[1])
        frames = self._frames
        sink = self._sink
        while frames and frames[0][2] < self._resolved:
            timestamp, duration, _window = frames.popleft()
            if sink is not None:
                sink(timestamp, duration, self._probability)


class SileroWorker:
    """Many streams, one worker thread, one batched inference per round of ready windows.

    Open streams from the event loop that will receive the results (the loop is
    captured at the first ``open_stream``); the thread starts with the first stream.
    """

    def __init__(
        self,
        sample_rate: int = PIPELINE_RATE,
        *,
        session: ort.InferenceSession | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_pending_secs: float = DEFAULT_MAX_PENDING_SECS,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        thread_nice: int = DEFAULT_THREAD_NICE,
        infer: Infer | None = None,
    ) -> None:
        """``infer`` replaces the model call (tests); by default the shared Silero session."""
        if max_batch <= 0:
            raise ValueError("max_batch must be positive")
        if max_pending_secs <= 0:
            raise ValueError("max_pending_secs must be positive")
        if sample_rate not in _WINDOW:
            raise ValueError(f"Silero supports sample rates {sorted(_WINDOW)}")
        self.sample_rate = sample_rate
        self.window = _WINDOW[sample_rate]
        self.context = _CONTEXT[sample_rate]
        self._infer: Infer = infer or _SileroModel(sample_rate, session).infer
        self.max_batch = max_batch
        self.close_timeout = close_timeout
        self.thread_nice = thread_nice
        self.max_pending_windows = max(1, int(max_pending_secs * sample_rate / self.window))
        self._cond = threading.Condition(threading.Lock())
        self._streams: set[SileroWorkerStream] = set()
        # Streams with a full window, in the order they became ready (dict: ordered set).
        self._ready: dict[SileroWorkerStream, None] = {}
        self._outbox: list[_Result] = []
        self._delivery_queued = False
        self._idle = False
        self._closing = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.inferences = 0
        self.windows_run = 0
        self.windows_dropped = 0
        self.errors = 0

    # ------------------------------------------------------------ event-loop side

    def open_stream(self) -> SileroWorkerStream:
        if self._closing:
            raise RuntimeError("SileroWorker is closed")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        stream = SileroWorkerStream(self, _StreamState(self.window, self.context, self.sample_rate))
        with self._cond:
            self._streams.add(stream)
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="silero-worker", daemon=True)
            self._thread.start()
        return stream

    @property
    def stream_count(self) -> int:
        return len(self._streams)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _push(self, stream: SileroWorkerStream, frame: AudioFrame) -> int:
        """Queue the frame's samples; returns the index of the last window complete now."""
        state = stream._state
        with self._cond:
            state.push(frame.pcm, frame.timestamp)
            over = state.pending_windows - self.max_pending_windows
            if over > 0:
                first = state.next_window
                state.drop_windows(over)
                stream._on_dropped(first, state.next_window)
                self.windows_dropped += over
            if state.has_window and stream not in self._ready:
                self._ready[stream] = None
                if self._idle:
                    self._cond.notify()
            return state.next_window + state.pending_windows - 1

    def _reset(self, stream: SileroWorkerStream) -> int:
        """Forget the stream's audio; returns the index its next window will have."""
        with self._cond:
            stream._state.reset()
            self._ready.pop(stream, None)
            return stream._state.next_window

    def _remove(self, stream: SileroWorkerStream) -> None:
        with self._cond:
            stream.closed = True
            self._streams.discard(stream)
            self._ready.pop(stream, None)

    def _deliver(self) -> None:
        """On the event loop: hand every scored window to its stream, in order."""
        with self._cond:
            results, self._outbox = self._outbox, []
            self._delivery_queued = False
        for stream, index, probability, generation in results:
            try:
                stream._on_scored(index, probability, generation)
            except Exception:
                # One session's bug must not cost the others their results.
                with self._cond:
                    self.errors += 1
                log.exception("VAD result sink failed")

    async def aclose(self) -> None:
        """Stop the worker thread and wait for it (at most ``close_timeout``), off the loop."""
        thread = self._stop()
        if thread is not None:
            await asyncio.to_thread(thread.join, self.close_timeout)

    def close(self) -> None:
        """Blocking form of ``aclose`` (for shutdown outside a running loop)."""
        thread = self._stop()
        if thread is not None:
            thread.join(self.close_timeout)

    def _stop(self) -> threading.Thread | None:
        with self._cond:
            self._closing = True
            self._ready.clear()
            self._cond.notify_all()
        return self._thread

    # ------------------------------------------------------------ worker thread

    def _work(self) -> None:
        if self.thread_nice:
            # Linux: nice applies per thread, and a new thread inherits the process's;
            # the worker goes thread_nice below it. Elsewhere it keeps the default.
            with contextlib.suppress(AttributeError, OSError):
                me = threading.get_native_id()
                inherited = os.getpriority(os.PRIO_PROCESS, me)
                os.setpriority(os.PRIO_PROCESS, me, min(19, inherited + self.thread_nice))
        width = self.context + self.window
        while True:
            with self._cond:
                while not self._ready and not self._closing:
                    self._idle = True
                    self._cond.wait()
                self._idle = False
                if self._closing:
                    return
                batch = self._take_batch()
                inputs: Float32Array = np.empty((len(batch), width), dtype=np.float32)
                indices = [s._state.next_window for s in batch]
                for i, stream in enumerate(batch):
                    stream._state.take_window(inputs[i])
                generations = [s._state.generation for s in batch]
                state = np.concatenate([s._state.state for s in batch], axis=1)
                for stream in batch:
                    if stream._state.has_window:  # fell behind: its next window waits its turn
                        self._ready[stream] = None
            try:
                probs, new_state = self._infer(inputs, state)
            except Exception:
                with self._cond:
                    self.errors += 1
                log.exception("Silero inference failed; %d windows unscored", len(batch))
                continue
            self._scatter(
                batch,
                inputs=inputs,
                indices=indices,
                generations=generations,
                probs=probs,
                new_state=new_state,
            )

    def _take_batch(self) -> list[SileroWorkerStream]:
        ready = self._ready
        if len(ready) <= self.max_batch:
            batch = list(ready)
            ready.clear()
            return batch
        batch = []
        for stream in ready:
            batch.append(stream)
            if len(batch) == self.max_batch:
                break
        for stream in batch:
            del ready[stream]
        return batch

    def _scatter(
        self,
        batch: list[SileroWorkerStream],
        *,
        inputs: Float32Array,
        indices: list[int],
        generations: list[int],
        probs: Float32Array,
        new_state: Float32Array,
    ) -> None:
        with self._cond:
            outbox = self._outbox
            for i, stream in enumerate(batch):
                state = stream._state
                if stream.closed or state.generation != generations[i]:
                    continue  # reset while in flight: keeps its fresh state
                probability = float(probs[i])
                state.commit(inputs[i], probability, new_state[:, i : i + 1, :].copy())
                outbox.append((stream, indices[i], probability, generations[i]))
            self.inferences += 1
            self.windows_run += len(batch)
            post = bool(outbox) and not self._delivery_queued
            if post:
                self._delivery_queued = True
        if post and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._deliver)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                with self._cond:
                    self._closing = True
