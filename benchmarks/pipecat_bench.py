"""The pipecat side of a voice benchmark step: the same scenario, as pipecat pipelines.

Runs in its own virtualenv (pipecat-ai pins older protobuf/soxr than ours):

    /tmp/pcvenv/bin/python benchmarks/pipecat_bench.py '<StepSpec json>'

``benchmarks.voice_bench`` launches it; it is not meant to be run by hand.

One pipeline per session, one ``WorkerRunner`` per session (as pipecat's
server examples do), all in one process and event loop (uvloop):

    BenchInput -> FakeSTT -> user aggregator (VAD) -> FakeLLM -> FakeTTS
      -> BenchOutput -> assistant aggregator

Equivalences with the CAP side:

* VAD: same model (webrtcvad aggressiveness 2, or pipecat's own Silero ONNX
  analyzer), same threshold 0.5, start 0.2 s, stop 0.6 s. Pipecat keeps its
  own extras (volume gate at its default ``min_volume``).
* End of turn: VAD stop plus the final transcript, nothing else
  (``SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0)``; pipecat's
  default is a smart-turn model).
* STT pushes a finalized ``TranscriptionFrame`` 150 ms after it sees the VAD
  stop; the LLM streams word tokens after 200 ms, 10 ms apart; TTS yields 20 ms
  ``TTSAudioRawFrame`` chunks 100 ms after each sentence; text is aggregated
  into sentences by pipecat's default aggregator.
* Output: 20 ms chunks written at real-time pace (like an audio device or
  WebRTC track), the write time of each chunk recorded.
* Logging at WARNING (no deployment ships DEBUG), RTVI and idle timeout off.
"""
# mypy: allow-subclassing-any, allow-untyped-calls

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import webrtcvad
from loguru import logger  # type: ignore[import-not-found, unused-ignore]
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    OutputAudioRawFrame,
    StartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings, STTSettings, TTSSettings
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.utils.time import time_now_iso8601
from pipecat.workers.runner import WorkerRunner

from benchmarks.voice import step
from benchmarks.voice.feeder import PushFn
from benchmarks.voice.scenario import (
    SAMPLE_RATE,
    TIMING,
    VAD,
    StepSpec,
    reply_for,
    tokens_of,
    tts_chunks,
)
from benchmarks.voice.traces import SessionTrace

FRAME_SECS = 0.02


# ---------------------------------------------------------------- VAD


class WebRtcVADAnalyzer(VADAnalyzer):
    """webrtcvad behind pipecat's analyzer, 20 ms per call like CAP's ``WebRtcVad``."""

    def __init__(self, *, params: VADParams) -> None:
        super().__init__(params=params)
        self._vad = webrtcvad.Vad(VAD.webrtc_aggressiveness)

    def num_frames_required(self) -> int:
        return int(self.sample_rate * FRAME_SECS)

    def voice_confidence(self, buffer: bytes) -> float:
        return 1.0 if self._vad.is_speech(buffer, self.sample_rate) else 0.0


# ---------------------------------------------------------------- fake services


class FakeSTT(STTService):
    def __init__(self, trace: SessionTrace) -> None:
        super().__init__(
            sample_rate=SAMPLE_RATE,
            ttfs_p99_latency=TIMING.stt_final_secs,
            settings=STTSettings(model=None, language=None),
        )
        self._trace = trace
        self._finals: set[asyncio.Task[None]] = set()

    async def run_stt(self, audio: bytes) -> Any:
        return
        yield

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            self._trace.stt_requests.append(time.perf_counter())
            task = self.create_task(self._final())
            self._finals.add(task)
            task.add_done_callback(self._finals.discard)

    async def _final(self) -> None:
        await asyncio.sleep(TIMING.stt_final_secs)
        self._trace.stt_finals.append(time.perf_counter())
        starts = self._trace.utterance_starts
        text = starts[-1][0] if starts else "hello"
        await self.push_frame(TranscriptionFrame(text, "", time_now_iso8601(), finalized=True))


def _llm_settings() -> LLMSettings:
    return LLMSettings(
        model=None,
        system_instruction=None,
        temperature=None,
        max_tokens=None,
        top_p=None,
        top_k=None,
        frequency_penalty=None,
        presence_penalty=None,
        seed=None,
        filter_incomplete_user_turns=None,
        user_turn_completion_config=None,
    )


class FakeLLM(LLMService):
    def __init__(self, trace: SessionTrace) -> None:
        super().__init__(settings=_llm_settings())
        self._trace = trace

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)
            return
        self._trace.llm_requests.append(time.perf_counter())
        await self.push_frame(LLMFullResponseStartFrame())
        try:
            await asyncio.sleep(TIMING.llm_first_token_secs)
            self._trace.llm_first_tokens.append(time.perf_counter())
            users = [m for m in frame.context.get_messages() if m.get("role") == "user"]
            last = str(users[-1].get("content", "")) if users else ""
            for i, token in enumerate(tokens_of(reply_for(last))):
                if i:
                    await asyncio.sleep(TIMING.llm_token_interval_secs)
                await self._push_llm_text(token)
        finally:
            await self.push_frame(LLMFullResponseEndFrame())


class FakeTTS(TTSService):
    def __init__(self, trace: SessionTrace) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            sample_rate=SAMPLE_RATE,
            settings=TTSSettings(model=None, voice=None, language=None),
        )
        self._trace = trace

    def can_generate_metrics(self) -> bool:
        return False

    async def run_tts(self, text: str, context_id: str) -> Any:
        self._trace.tts_requests.append(time.perf_counter())
        await asyncio.sleep(TIMING.tts_first_audio_secs)
        self._trace.tts_first_audio.append(time.perf_counter())
        for n, chunk in enumerate(tts_chunks(text)):
            if n:
                await asyncio.sleep(TIMING.tts_chunk_interval_secs)
            yield TTSAudioRawFrame(
                audio=chunk, sample_rate=SAMPLE_RATE, num_channels=1, context_id=context_id
            )


# ---------------------------------------------------------------- transport


class BenchInput(BaseInputTransport):
    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)


class BenchOutput(BaseOutputTransport):
    """Writes each 20 ms chunk at real-time pace and records when it left."""

    def __init__(self, params: TransportParams, trace: SessionTrace) -> None:
        super().__init__(params)
        self._out = trace.out
        self._next_send = 0.0

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            self._next_send = 0.0

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        self._out.append(time.perf_counter())
        # Pace like an audio device: one chunk per period, no catching up in bursts.
        now = time.monotonic()
        wait = max(0.0, self._next_send - now)
        await asyncio.sleep(wait)
        self._next_send = (time.monotonic() if wait == 0 else self._next_send) + FRAME_SECS
        return True


class BenchTransport(BaseTransport):
    def __init__(self, trace: SessionTrace) -> None:
        super().__init__()
        params = TransportParams(
            audio_in_enabled=True,
            audio_in_sample_rate=SAMPLE_RATE,
            audio_out_enabled=True,
            audio_out_sample_rate=SAMPLE_RATE,
            audio_out_10ms_chunks=2,
        )
        self._input = BenchInput(params)
        self._output = BenchOutput(params, trace)

    def input(self) -> BenchInput:
        return self._input

    def output(self) -> BenchOutput:
        return self._output


# ---------------------------------------------------------------- harness


class PipecatHarness:
    def __init__(self, spec: StepSpec) -> None:
        self._spec = spec
        self._runs: set[asyncio.Task[None]] = set()
        self._vad_params = VADParams(
            confidence=VAD.threshold, start_secs=VAD.start_secs, stop_secs=VAD.stop_secs
        )

    async def setup(self) -> None:
        logger.remove()
        logger.add(sys.stderr, level="WARNING")
        if self._spec.vad != "webrtc":
            SileroVADAnalyzer()  # load the model before the RSS baseline

    def _analyzer(self) -> VADAnalyzer:
        if self._spec.vad == "webrtc":
            return WebRtcVADAnalyzer(params=self._vad_params)
        return SileroVADAnalyzer(params=self._vad_params)

    async def open_session(self, trace: SessionTrace) -> PushFn:
        transport = BenchTransport(trace)
        context = LLMContext(messages=[{"role": "system", "content": "You are helpful."}])
        vad = self._analyzer()
        pair = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(
                vad_analyzer=vad,
                user_turn_strategies=UserTurnStrategies(
                    stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.0)]
                ),
            ),
        )
        user = pair.user()
        controller = user._vad_controller

        async def _started(_controller: Any) -> None:
            trace.vad_starts.append(time.perf_counter())

        async def _stopped(_controller: Any) -> None:
            trace.vad_stops.append(time.perf_counter())

        controller.add_event_handler("on_speech_started", _started)
        controller.add_event_handler("on_speech_stopped", _stopped)

        pipeline = Pipeline(
            [
                transport.input(),
                FakeSTT(trace),
                user,
                FakeLLM(trace),
                FakeTTS(trace),
                transport.output(),
                pair.assistant(),
            ]
        )
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(
                audio_in_sample_rate=SAMPLE_RATE, audio_out_sample_rate=SAMPLE_RATE
            ),
            enable_rtvi=False,
            idle_timeout_secs=None,
            cancel_on_idle_timeout=False,
        )
        started = asyncio.Event()

        async def _on_started(_worker: Any, _frame: Frame) -> None:
            started.set()

        worker.add_event_handler("on_pipeline_started", _on_started)

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        run = asyncio.get_running_loop().create_task(runner.run())
        self._runs.add(run)
        await asyncio.wait_for(started.wait(), 30.0)
        source = transport.input()

        async def push(pcm: bytes) -> None:
            await source.push_audio_frame(
                InputAudioRawFrame(audio=pcm, sample_rate=SAMPLE_RATE, num_channels=1)
            )

        return push

    def begin_window(self) -> None:
        pass

    def stats(self) -> dict[str, Any]:
        import pipecat

        return {"pipecat_version": getattr(pipecat, "__version__", "?")}


if __name__ == "__main__":
    step.main(PipecatHarness)
