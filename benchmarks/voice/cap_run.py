"""The CAP side of a step: ``VoiceSession``s on one shared ``PlayoutClock``.

    python -m benchmarks.voice.cap_run '<StepSpec json>'

STT and LLM are the engine's own fakes (``pipelines.providers.fake``) with the
scenario's latencies, subclassed only to add timestamps; TTS is the scenario's
streaming fake (``scenario.tts_chunks``), the same bytes the pipecat side sends.

With ``silero-batch`` every session's detector is a stream of one
``SileroBatch`` whose ``tick`` runs on the same clock, registered before any
session, so each tick scores the windows that arrived since the previous one in
one inference, on the event loop. ``silero-batch-thread`` starts the same run
from the tick but in one worker thread, so the loop keeps going while
onnxruntime infers. Neither needs a change to ``pipelines/``: a session takes
any ``VoiceActivityDetector``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.voice import step
from benchmarks.voice.feeder import PushFn
from benchmarks.voice.scenario import SAMPLE_RATE, TIMING, VAD, StepSpec, reply_for, tts_chunks
from benchmarks.voice.traces import SessionTrace
from media.clock import PlayoutClock
from media.frames import PIPELINE_RATE, AudioFrame
from media.vad.base import VoiceActivityDetector
from media.vad.detector import VadParams
from media.vad.silero import SileroBatch, SileroVad, shared_session
from media.vad.webrtc import WebRtcVad
from pipelines.config import ConversationConfig
from pipelines.events import SessionEvent
from pipelines.providers.base import ChatMessage
from pipelines.providers.fake import (
    FakeLLM,
    FakeLLMKnobs,
    FakeSTT,
    FakeSTTKnobs,
)
from pipelines.session import VoiceSession


class _TracedSTT(FakeSTT):
    """Transcribes each utterance as the label of the one the caller last began."""

    def __init__(self, trace: SessionTrace) -> None:
        super().__init__(knobs=FakeSTTKnobs(final_latency=TIMING.stt_final_secs))
        self._trace = trace

    def next_text(self) -> str:
        self._trace.stt_finals.append(time.perf_counter())
        starts = self._trace.utterance_starts
        return starts[-1][0] if starts else "hello"


class _TracedTTS:
    """The scenario's streaming fake TTS (``TTSProvider``), stamping each sentence's first audio."""

    name = "bench-tts"
    sample_rate = SAMPLE_RATE

    def __init__(self, trace: SessionTrace) -> None:
        self._trace = trace

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        await asyncio.sleep(TIMING.tts_first_audio_secs)
        self._trace.tts_first_audio.append(time.perf_counter())
        for n, chunk in enumerate(tts_chunks(text)):
            if n:
                await asyncio.sleep(TIMING.tts_chunk_interval_secs)
            yield chunk


def _responder(trace: SessionTrace) -> Any:
    def respond(messages: Sequence[ChatMessage]) -> str:
        # Called once per request, right after the first-token latency.
        trace.llm_first_tokens.append(time.perf_counter())
        last = next((m.content for m in reversed(messages) if m.role == "user"), "")
        return reply_for(last)

    return respond


def _event_sink(trace: SessionTrace) -> Any:
    def on_event(event: SessionEvent) -> None:
        if event.type == "user.speech_started":
            trace.vad_starts.append(time.perf_counter())
        elif event.type == "user.speech_ended":
            trace.vad_stops.append(time.perf_counter())

    return on_event


def _audio_sink(trace: SessionTrace) -> Any:
    out = trace.out

    def on_audio(_frame: AudioFrame) -> None:
        out.append(time.perf_counter())

    return on_audio


def _retrieve(future: asyncio.Future[int]) -> None:
    if not future.cancelled() and future.exception() is not None:
        raise RuntimeError("SileroBatch.run failed") from future.exception()


class CapHarness:
    def __init__(self, spec: StepSpec) -> None:
        self._spec = spec
        self._clock = PlayoutClock()
        self._batch: SileroBatch | None = None
        self._config = ConversationConfig(
            vad=VadParams(
                threshold=VAD.threshold,
                start_secs=VAD.start_secs,
                stop_secs=VAD.stop_secs,
                min_speech_secs=VAD.min_speech_secs,
            )
        )
        self._window_ticks = (0, 0, 0)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="silero-batch")
        self._batch_run: asyncio.Future[int] | None = None
        self.sessions: list[VoiceSession] = []

    async def setup(self) -> None:
        if self._spec.vad != "webrtc":
            shared_session()  # load the model before the RSS baseline
        if self._spec.vad == "silero-batch":
            self._batch = SileroBatch()
            self._clock.register(self._batch.tick)
        elif self._spec.vad == "silero-batch-thread":
            self._batch = SileroBatch()
            self._clock.register(self._batch_tick)
        await self._clock.start()

    def _batch_tick(self, _now: float) -> None:
        """Score the windows that arrived since the last tick, off the event loop.

        onnxruntime releases the GIL while it infers, so the loop keeps serving
        timers and frames meanwhile; one run at a time (``SileroBatch``'s rule).
        """
        if self._batch is None or (self._batch_run is not None and not self._batch_run.done()):
            return
        run = asyncio.get_running_loop().run_in_executor(self._executor, self._batch.run)
        run.add_done_callback(_retrieve)
        self._batch_run = run

    def _vad(self) -> VoiceActivityDetector:
        if self._spec.vad == "webrtc":
            return WebRtcVad(VAD.webrtc_aggressiveness)
        if self._batch is not None:
            return self._batch.open_stream()
        return SileroVad()

    async def open_session(self, trace: SessionTrace) -> PushFn:
        session = VoiceSession(
            stt=_TracedSTT(trace),
            llm=FakeLLM(
                _responder(trace),
                FakeLLMKnobs(
                    first_token_latency=TIMING.llm_first_token_secs,
                    token_interval=TIMING.llm_token_interval_secs,
                ),
            ),
            tts=_TracedTTS(trace),
            vad=self._vad(),
            clock=self._clock,
            on_event=_event_sink(trace),
            on_audio=_audio_sink(trace),
            config=self._config,
        )
        await session.start()
        self.sessions.append(session)
        loop_time = session.loop.time
        push = session.push_audio

        def push_frame(pcm: bytes) -> None:
            push(AudioFrame(pcm, PIPELINE_RATE, loop_time()))

        return push_frame

    def begin_window(self) -> None:
        c = self._clock
        self._window_ticks = (c.ticks, c.late_ticks, c.skipped_ticks)
        c.max_lateness = 0.0

    def stats(self) -> dict[str, Any]:
        c = self._clock
        ticks, late, skipped = self._window_ticks
        stats: dict[str, Any] = {
            "clock_ticks": c.ticks - ticks,
            "clock_late_ticks": c.late_ticks - late,
            "clock_skipped_ticks": c.skipped_ticks - skipped,
            "clock_max_lateness_ms": round(c.max_lateness * 1000, 2),
            "clock_callback_errors": c.callback_errors,
            "bad_frames": sum(s.bad_frames for s in self.sessions),
        }
        if self._batch is not None:
            stats["silero_batch_inferences"] = self._batch.inferences
            stats["silero_batch_windows"] = self._batch.windows_run
        return stats


if __name__ == "__main__":
    step.main(CapHarness)
