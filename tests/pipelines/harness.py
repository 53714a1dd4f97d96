"""A voice session wired to fake providers, driven by paced frames on the virtual clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np

from media.clock import PlayoutClock
from media.frames import FRAME_MS, PIPELINE_RATE, AudioFrame, samples_per_frame
from media.vad.base import DeferredVoiceActivityDetector, ScoreSink, VoiceActivityDetector
from media.vad.detector import VadParams
from pipelines.config import ConversationConfig
from pipelines.events import SessionEvent
from pipelines.providers.base import TTSProvider
from pipelines.providers.fake import FakeLLM, FakeSTT, FakeTTS, tone
from pipelines.session import VoiceSession
from pipelines.tools import ToolBox

FRAME_SECS = FRAME_MS / 1000


class EnergyVad:
    """Voiced when the frame is loud: the harness speaks in tones and silence."""

    sample_rate = PIPELINE_RATE

    def speech_probability(self, pcm: bytes) -> float:
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
        rms = float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0
        return 1.0 if rms > 500 else 0.0

    def reset(self) -> None:
        pass


class WindowedEnergyVad:
    """``EnergyVad`` scored on 32 ms windows, like Silero inline: each frame gets
    the score of the last window complete at its end (0 before the first)."""

    sample_rate = PIPELINE_RATE
    WINDOW = 512

    def __init__(self) -> None:
        self._pending = b""
        self._probability = 0.0
        self._scorer = EnergyVad()

    def speech_probability(self, pcm: bytes) -> float:
        self._pending += pcm
        size = 2 * self.WINDOW
        while len(self._pending) >= size:
            window, self._pending = self._pending[:size], self._pending[size:]
            self._probability = self._scorer.speech_probability(window)
        return self._probability

    def reset(self) -> None:
        self._pending = b""
        self._probability = 0.0


class DeferredEnergyVad:
    """``WindowedEnergyVad`` as a deferred detector: each frame's result comes back
    on a later loop iteration (the worker thread's hand-off), in order."""

    sample_rate = PIPELINE_RATE

    def __init__(self) -> None:
        self._sink: ScoreSink | None = None
        self._scorer = WindowedEnergyVad()
        self.closed = False

    def bind(self, sink: ScoreSink) -> None:
        self._sink = sink

    def push(self, frame: AudioFrame) -> None:
        probability = self._scorer.speech_probability(frame.pcm)
        asyncio.get_running_loop().call_soon(
            self._report, frame.timestamp, frame.duration, probability
        )

    def _report(self, timestamp: float, duration: float, probability: float) -> None:
        if self._sink is not None and not self.closed:
            self._sink(timestamp, duration, probability)

    def reset(self) -> None:
        self._scorer.reset()

    def close(self) -> None:
        self.closed = True


@dataclass
class Harness:
    stt: FakeSTT = field(default_factory=FakeSTT)
    llm: FakeLLM = field(default_factory=FakeLLM)
    tts: FakeTTS = field(default_factory=FakeTTS)
    # Given to the session instead of ``tts`` when set (e.g. a ``FallbackTTS`` chain).
    voice: TTSProvider | None = None
    config: ConversationConfig = field(
        default_factory=lambda: ConversationConfig(
            vad=VadParams(start_secs=0.2, stop_secs=0.6, min_speech_secs=0.1)
        )
    )
    tools: ToolBox | None = None
    vad: VoiceActivityDetector | DeferredVoiceActivityDetector = field(default_factory=EnergyVad)
    events: list[SessionEvent] = field(default_factory=list)
    audio_out: list[AudioFrame] = field(default_factory=list)
    session: VoiceSession | None = None
    clock: PlayoutClock | None = None

    async def __aenter__(self) -> Harness:
        self.clock = PlayoutClock(FRAME_MS)
        await self.clock.start()
        self.session = VoiceSession(
            stt=self.stt,
            llm=self.llm,
            tts=self.voice or self.tts,
            vad=self.vad,
            clock=self.clock,
            on_event=self.events.append,
            on_audio=self.audio_out.append,
            config=self.config,
            tools=self.tools,
        )
        await self.session.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None and self.clock is not None
        await self.session.aclose()
        await self.clock.aclose()

    @property
    def s(self) -> VoiceSession:
        assert self.session is not None
        return self.session

    async def feed(self, seconds: float, *, voiced: bool) -> None:
        """Push ``seconds`` of tone (voiced) or silence, one frame per 20 ms of clock."""
        loop = asyncio.get_running_loop()
        n = samples_per_frame(PIPELINE_RATE)
        for _ in range(round(seconds / FRAME_SECS)):
            pcm = tone(n, PIPELINE_RATE, hz=440.0) if voiced else bytes(2 * n)
            self.s.push_audio(AudioFrame(pcm, PIPELINE_RATE, loop.time()))
            await asyncio.sleep(FRAME_SECS)

    async def say(self, seconds: float = 1.0, then_silence: float = 0.0) -> None:
        await self.feed(seconds, voiced=True)
        if then_silence:
            await self.feed(then_silence, voiced=False)

    def of(self, kind: str) -> list[SessionEvent]:
        return [e for e in self.events if e.type == kind]

    def states(self) -> list[str]:
        return [e.state for e in self.events if e.type == "state"]
