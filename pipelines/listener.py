"""A session's inbound listening: frames in, speech starts and ends out.

Synchronous and driven by frame arrival (``push_audio``): the VAD and the
speech-state machine run inline, and the audio before confirmed speech is
held back (the pre-roll) so speech-to-text hears its beginning. A deferred
detector (Silero scored in a worker thread) instead reports each scored window
back on the loop (``_on_vad_score``), and the speech-state machine advances
there. What a speech start or end means for the conversation is the owner's
business: it is told through the two callbacks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from media.frames import FRAME_MS, PIPELINE_RATE, AudioFrame
from media.vad.base import (
    DeferredVoiceActivityDetector,
    RetunableDetector,
    VoiceActivityDetector,
)
from media.vad.detector import SpeechDetector, SpeechEvent
from pipelines.config import ConversationConfig
from pipelines.input_rate import ToPipelineRate
from pipelines.providers.base import STTStream

SpeechCallback = Callable[[SpeechEvent], None]

# A deferred detector confirms speech a window (plus the hand-off) after the
# audio that completed it: the pre-roll keeps that much more.
DEFERRED_PREROLL_EXTRA_SECS = 0.1


class InboundListener:
    """Speech detection, pre-roll and input rate conversion for one session."""

    def __init__(
        self,
        vad: VoiceActivityDetector | DeferredVoiceActivityDetector,
        config: ConversationConfig,
        *,
        on_speech_start: SpeechCallback,
        on_speech_end: SpeechCallback,
    ) -> None:
        self._config = config
        self._on_speech_start = on_speech_start
        self._on_speech_end = on_speech_end
        self.detector = SpeechDetector(vad, config.vad)
        self._deferred = vad if isinstance(vad, DeferredVoiceActivityDetector) else None
        preroll = max(config.preroll_secs, config.vad.start_secs + 0.1)
        if self._deferred is not None:
            preroll += DEFERRED_PREROLL_EXTRA_SECS
            self._deferred.bind(self._on_vad_score)
        # Audio held back before speech is confirmed, as (pcm, timestamp): tuples
        # of bytes and floats leave the collector's tracking, AudioFrames would
        # not, and hundreds of sessions churn these every frame.
        self._preroll_frames = round(preroll * 1000 / FRAME_MS)
        self._preroll: deque[tuple[bytes, float]] = deque(maxlen=self._preroll_frames)
        # Frames held since the pre-roll was last flushed: more than it holds means a gap.
        self._held = 0
        # Inbound audio rate (``set_input_rate``) and the conversions it needs.
        self._input_rate = PIPELINE_RATE
        self._to_pipeline: ToPipelineRate | None = None  # every frame, before the VAD
        self._stt_input: ToPipelineRate | None = None  # only the audio STT consumes
        # Where the speech goes; set by the owner once the STT stream is open.
        self.stt_stream: STTStream | None = None
        self._closed = False
        self.bad_frames = 0

    def close(self) -> None:
        """No more audio or scores are taken; a deferred detector is released."""
        self._closed = True
        if self._deferred is not None:
            self._deferred.close()

    def set_input_rate(self, sample_rate: int) -> None:
        """Audio will arrive at ``sample_rate`` (a phone line's 8 kHz); call before any.

        A VAD that can run at that rate (``RetunableDetector``: webrtcvad) then
        scores the frames as they come, and only what speech-to-text consumes
        (the pre-roll and the speech) is resampled to the pipeline rate. Any
        other VAD (Silero) gets every frame resampled first.
        """
        if sample_rate == self._input_rate:
            return
        if self._input_rate != PIPELINE_RATE or sample_rate <= 0:
            raise ValueError("the input rate is set once, to a positive rate")
        vad = self.detector.vad
        native = vad.at_rate(sample_rate) if isinstance(vad, RetunableDetector) else None
        if self._deferred is None and native is not None:
            self.detector = SpeechDetector(native, self._config.vad)
            self._stt_input = ToPipelineRate(sample_rate)
            # One frame more: the oldest only primes the resampler after a gap.
            self._preroll = deque(maxlen=self._preroll_frames + 1)
        else:
            self._to_pipeline = ToPipelineRate(sample_rate)
        self._input_rate = sample_rate

    def push_audio(self, frame: AudioFrame) -> None:
        """One 20 ms PCM16 frame at the input rate, stamped with its arrival time."""
        if self._closed:
            return
        if frame.sample_rate != self._input_rate:
            self.bad_frames += 1
            return
        if self._to_pipeline is not None:
            for converted in self._to_pipeline.convert(frame):
                self._listen(converted)
            return
        self._listen(frame)

    def _listen(self, frame: AudioFrame) -> None:
        if self._deferred is not None:
            self._deferred.push(frame)
            if not self.detector.speaking:
                self._hold(frame)
            elif self.stt_stream:
                self.stt_stream.push_frame(frame)
            return
        event = self.detector.process(frame)
        if event is not None and event.kind == "start":
            self._on_speech_start(event)
            self._flush_preroll()
            self._to_stt(frame)
        elif self.detector.speaking or (event is not None and event.kind == "end"):
            self._to_stt(frame)
        else:
            self._hold(frame)
        if event is not None and event.kind == "end":
            self._on_speech_end(event)

    def _hold(self, frame: AudioFrame) -> None:
        """Keep a frame in the pre-roll until speech is confirmed (or it ages out)."""
        self._preroll.append((frame.pcm, frame.timestamp))
        self._held += 1

    def _to_stt(self, frame: AudioFrame) -> None:
        stream = self.stt_stream
        if stream is None:
            return
        if self._stt_input is None:
            stream.push_frame(frame)
            return
        for converted in self._stt_input.convert(frame):
            stream.push_frame(converted)

    def _on_vad_score(self, timestamp: float, duration: float, probability: float) -> None:
        """A deferred detector's result for one window of this session's audio."""
        if self._closed:
            return
        event = self.detector.score(timestamp, duration, probability)
        if event is None:
            return
        if event.kind == "start":
            self._on_speech_start(event)
            self._flush_preroll()
        else:
            self._on_speech_end(event)

    def _flush_preroll(self) -> None:
        """Speech confirmed: the audio held back since before it began goes to STT."""
        held = self._preroll
        converter = self._stt_input
        if converter is not None and self._held > len(held):
            # Frames aged out since STT last had audio: the resampler starts
            # over, its history primed by the oldest frame kept for that.
            converter.restart()
            converter.prime(held.popleft()[0])
        # Held frames are at the input rate only when the VAD runs at it.
        rate = self._input_rate if converter is not None else PIPELINE_RATE
        for pcm, timestamp in held:
            self._to_stt(AudioFrame(pcm, rate, timestamp))
        held.clear()
        self._held = 0
