"""The CAP side of a step: ``VoiceSession``s on one shared ``PlayoutClock``.

    python -m benchmarks.voice.cap_run '<StepSpec json>'

STT and LLM are the engine's own fakes (``pipelines.providers.fake``) with the
scenario's latencies, subclassed only to add timestamps; TTS is the scenario's
streaming fake (``scenario.tts_chunks``), the same bytes the pipecat side sends.

``silero`` gives each session its own ``SileroVad`` (inference inline in
``push_audio``). With ``silero-batch`` every session's detector is a stream of
one ``SileroBatch`` whose ``tick`` runs on the same clock, registered before
any session, so each tick scores the windows that arrived since the previous
one in one inference, on the event loop. ``silero-worker`` is what an agent
configured with vad "silero" gets: streams of one ``SileroWorker``, whose
thread scores every window as soon as it is full, batched with whatever else is
ready, and reports back on the loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from benchmarks.voice import step
from benchmarks.voice.feeder import PushFn
from benchmarks.voice.scenario import SAMPLE_RATE, TIMING, VAD, StepSpec, reply_for, tts_chunks
from benchmarks.voice.traces import SessionTrace
from media.clock import PlayoutClock
from media.frames import PIPELINE_RATE, AudioFrame
from media.vad.base import DeferredVoiceActivityDetector, VoiceActivityDetector
from media.vad.detector import VadParams
from media.vad.silero import SileroBatch, SileroVad, shared_session
from media.vad.webrtc import WebRtcVad
from media.vad.worker import SileroWorker
from pipelines.config import ConversationConfig
from pipelines.events import SessionEvent
from pipelines.providers.base import ChatMessage, LLMEvent, ToolSpec
from pipelines.providers.fake import (
    FakeLLM,
    FakeLLMKnobs,
    FakeSTT,
    FakeSTTKnobs,
    FakeSTTStream,
)
from pipelines.session import VoiceSession


class _TracedSTTStream(FakeSTTStream):
    def __init__(self, provider: _TracedSTT) -> None:
        super().__init__(provider)
        self._requests = provider.trace.stt_requests

    def flush(self) -> None:
        self._requests.append(time.perf_counter())
        super().flush()


class _TracedSTT(FakeSTT):
    """Transcribes each utterance as the label of the one the caller last began."""

    def __init__(self, trace: SessionTrace) -> None:
        super().__init__(knobs=FakeSTTKnobs(final_latency=TIMING.stt_final_secs))
        self.trace = trace

    async def open_stream(self, *, language: str = "en") -> FakeSTTStream:
        self.streams_opened += 1
        return _TracedSTTStream(self)

    def next_text(self) -> str:
        self.trace.stt_finals.append(time.perf_counter())
        starts = self.trace.utterance_starts
        return starts[-1][0] if starts else "hello"


class _TracedTTS:
    """The scenario's streaming fake TTS (``TTSProvider``), stamping each sentence's first audio."""

    name = "bench-tts"
    sample_rate = SAMPLE_RATE

    def __init__(self, trace: SessionTrace) -> None:
        self._trace = trace

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        self._trace.tts_requests.append(time.perf_counter())
        await asyncio.sleep(TIMING.tts_first_audio_secs)
        self._trace.tts_first_audio.append(time.perf_counter())
        for n, chunk in enumerate(tts_chunks(text)):
            if n:
                await asyncio.sleep(TIMING.tts_chunk_interval_secs)
            yield chunk


class _TracedLLM(FakeLLM):
    """The engine's fake LLM, stamping when each request is made."""

    def __init__(self, trace: SessionTrace) -> None:
        super().__init__(
            _responder(trace),
            FakeLLMKnobs(
                first_token_latency=TIMING.llm_first_token_secs,
                token_interval=TIMING.llm_token_interval_secs,
            ),
        )
        self._requests = trace.llm_requests

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[LLMEvent]:
        self._requests.append(time.perf_counter())
        async for event in super().stream(messages, tools):
            yield event


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


class CapHarness:
    def __init__(self, spec: StepSpec) -> None:
        self._spec = spec
        self._clock = PlayoutClock()
        self._batch: SileroBatch | None = None
        self._worker: SileroWorker | None = None
        self._config = ConversationConfig(
            vad=VadParams(
                threshold=VAD.threshold,
                start_secs=VAD.start_secs,
                stop_secs=VAD.stop_secs,
                min_speech_secs=VAD.min_speech_secs,
            )
        )
        self._window_ticks = (0, 0, 0)
        self.sessions: list[VoiceSession] = []

    async def setup(self) -> None:
        if self._spec.vad != "webrtc":
            shared_session()  # load the model before the RSS baseline
        if self._spec.vad == "silero-batch":
            self._batch = SileroBatch()
            self._clock.register(self._batch.tick)
        elif self._spec.vad == "silero-worker":
            self._worker = SileroWorker()
        await self._clock.start()

    def _vad(self) -> VoiceActivityDetector | DeferredVoiceActivityDetector:
        if self._spec.vad == "webrtc":
            return WebRtcVad(VAD.webrtc_aggressiveness)
        if self._batch is not None:
            return self._batch.open_stream()
        if self._worker is not None:
            return self._worker.open_stream()
        return SileroVad()

    async def open_session(self, trace: SessionTrace) -> PushFn:
        session = VoiceSession(
            stt=_TracedSTT(trace),
            llm=_TracedLLM(trace),
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
        if self._worker is not None:
            w = self._worker
            stats["silero_worker_inferences"] = w.inferences
            stats["silero_worker_windows"] = w.windows_run
            stats["silero_worker_windows_dropped"] = w.windows_dropped
            stats["silero_worker_errors"] = w.errors
        return stats


if __name__ == "__main__":
    step.main(CapHarness)
