"""A live conversation: audio and text in, events and paced agent audio out.

The inbound path is synchronous and driven by frame arrival (``push_audio``):
VAD, the speech-state machine and turn decisions run inline. A deferred
detector (Silero scored in a worker thread for every session) instead reports
each scored window back on the loop (``_on_vad_score``), and the speech-state
machine advances there. Async work exists
only at provider I/O (STT reader, LLM and TTS in the reply task). Outbound audio
is paced by the process-wide ``PlayoutClock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from media.clock import PlayoutClock
from media.frames import FRAME_MS, PIPELINE_RATE, AudioFrame
from media.playout import PlayoutBuffer
from media.resample import StreamResampler
from media.vad.base import (
    DeferredVoiceActivityDetector,
    RetunableDetector,
    VoiceActivityDetector,
)
from media.vad.detector import SpeechDetector, SpeechEvent
from pipelines.config import ConversationConfig
from pipelines.events import (
    AgentAudioDone,
    AgentInterrupted,
    ErrorEvent,
    SessionEvent,
    StateChanged,
    TranscriptFinal,
    TranscriptPartial,
    TurnMetrics,
    UserSpeechEnded,
    UserSpeechStarted,
)
from pipelines.input_rate import ToPipelineRate
from pipelines.knowledge import Retriever
from pipelines.providers.base import ChatMessage, LLMProvider, STTProvider, STTStream, TTSProvider
from pipelines.reply import ReplyRun
from pipelines.responder import Responder
from pipelines.text import heard_text
from pipelines.timeline import TurnTimeline
from pipelines.tools import ToolBox
from pipelines.turn import TurnState, TurnStateMachine

log = logging.getLogger(__name__)

EventSink = Callable[[SessionEvent], None]
AudioSink = Callable[[AudioFrame], None]
# Samples sent to the transport but not yet heard by the user (e.g. Twilio's buffer).
PlaybackLag = Callable[[], int]

CANCEL_TIMEOUT = 1.0
# Completed turn timelines kept per session (each one is also emitted as a
# ``TurnMetrics`` event, which is where metrics sinks take them from).
KEEP_COMPLETED_TURNS = 20
# A deferred detector confirms speech a window (plus the hand-off) after the
# audio that completed it: the pre-roll keeps that much more.
DEFERRED_PREROLL_EXTRA_SECS = 0.1


class VoiceSession:
    def __init__(
        self,
        *,
        stt: STTProvider,
        llm: LLMProvider,
        tts: TTSProvider,
        vad: VoiceActivityDetector | DeferredVoiceActivityDetector,
        clock: PlayoutClock,
        on_event: EventSink,
        on_audio: AudioSink,
        config: ConversationConfig | None = None,
        tools: ToolBox | None = None,
        retriever: Retriever | None = None,
        playback_lag: PlaybackLag | None = None,
    ) -> None:
        self.config = config or ConversationConfig()
        self._stt = stt
        self._clock = clock
        self._emit = on_event
        self._on_audio = on_audio
        self._playback_lag = playback_lag
        self._turns = TurnStateMachine()
        self._detector = SpeechDetector(vad, self.config.vad)
        self._deferred = vad if isinstance(vad, DeferredVoiceActivityDetector) else None
        preroll = max(self.config.preroll_secs, self.config.vad.start_secs + 0.1)
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
        self._playout = PlayoutBuffer(PIPELINE_RATE, FRAME_MS)
        self._tts_resampler = StreamResampler(tts.sample_rate, PIPELINE_RATE)
        self.history: list[ChatMessage] = []
        self.completed: deque[TurnTimeline] = deque(maxlen=KEEP_COMPLETED_TURNS)
        self._responder = Responder(
            session=self, llm=llm, tts=tts, tools=tools or ToolBox(), retriever=retriever
        )
        self._stt_stream: STTStream | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._unregister_clock: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._turn_counter = 0
        self._listening_turn: TurnTimeline | None = None
        # The turn given up on when its STT final timed out, until the next speech starts:
        # a late final is answered on it, so its timeline keeps the speech marks.
        self._timed_out_turn: TurnTimeline | None = None
        self._pending_text: list[str] = []
        self._flushes_outstanding = 0
        self._final_timer: asyncio.TimerHandle | None = None
        self._reply: ReplyRun | None = None
        self._closed = False
        self.bad_frames = 0

    # ------------------------------------------------------------ lifecycle

    @property
    def state(self) -> TurnState:
        return self._turns.state

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "session not started"
        return self._loop

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stt_stream = await self._stt.open_stream(language=self.config.language)
        self._spawn(self._read_transcripts(self._stt_stream))
        self._unregister_clock = self._clock.register(self._on_tick)
        if self.config.greeting:
            self._start_reply(user_text=None, say=self.config.greeting)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._deferred is not None:
            self._deferred.close()
        if self._unregister_clock:
            self._unregister_clock()
        if self._final_timer:
            self._final_timer.cancel()
        if self._reply and self._reply.task:
            self._reply.task.cancel()
        if self._stt_stream:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._stt_stream.aclose(), CANCEL_TIMEOUT)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CANCEL_TIMEOUT)

    def _spawn(self, coro: object) -> asyncio.Task[None]:
        task: asyncio.Task[None] = self.loop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------ inbound (sync)

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
        vad = self._detector.vad
        native = vad.at_rate(sample_rate) if isinstance(vad, RetunableDetector) else None
        if self._deferred is None and native is not None:
            self._detector = SpeechDetector(native, self.config.vad)
            self._stt_input = ToPipelineRate(sample_rate)
            # One frame more: the oldest only primes the resampler after a gap.
            self._preroll = deque(maxlen=self._preroll_frames + 1)
        else:
            self._to_pipeline = ToPipelineRate(sample_rate)
        self._input_rate = sample_rate

    def push_audio(self, frame: AudioFrame) -> None:
        """One 20 ms PCM16 frame at the input rate, stamped with its arrival time.

        The input rate is the pipeline rate unless ``set_input_rate`` said otherwise.
        """
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
            if not self._detector.speaking:
                self._hold(frame)
            elif self._stt_stream:
                self._stt_stream.push_frame(frame)
            return
        event = self._detector.process(frame)
        if event is not None and event.kind == "start":
            self._on_speech_start(event)
            self._flush_preroll()
            self._to_stt(frame)
        elif self._detector.speaking or (event is not None and event.kind == "end"):
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
        stream = self._stt_stream
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
        event = self._detector.score(timestamp, duration, probability)
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

    def push_text(self, text: str) -> None:
        """Typed user input in the same session: interrupts, then answers it."""
        if self._closed or not text.strip():
            return
        now = self.loop.time()
        self._interrupt(now)
        self._listening_turn = None
        self._start_reply(user_text=text.strip())

    def interrupt(self) -> bool:
        """Stop the agent now (a client's explicit interrupt)."""
        return self._interrupt(self.loop.time())

    # ------------------------------------------------------------ turn logic

    def _set_state(self, target: TurnState) -> None:
        current = self._turns.state
        if current is target and target is not TurnState.THINKING:
            return
        previous = self._turns.to(target)
        if previous is not target:
            self._emit(StateChanged(state=target.value, previous=previous.value))

    def _new_turn(self) -> TurnTimeline:
        self._turn_counter += 1
        return TurnTimeline(turn_id=self._turn_counter)

    def _on_speech_start(self, event: SpeechEvent) -> None:
        self._interrupt(event.timestamp)
        self._timed_out_turn = None
        if self._listening_turn is None:
            self._listening_turn = self._new_turn()
        self._listening_turn.mark("user_speech_start", event.speech_start)
        self._set_state(TurnState.USER_SPEAKING)
        self._emit(UserSpeechStarted(at=event.speech_start))

    def _on_speech_end(self, event: SpeechEvent) -> None:
        turn = self._listening_turn
        if turn is not None:
            turn.marks["user_speech_end"] = event.speech_end or event.timestamp
            turn.marks["vad_end_confirmed"] = event.timestamp
        self._emit(UserSpeechEnded(at=event.speech_end or event.timestamp))
        self._set_state(TurnState.THINKING)
        if self._stt_stream is not None:
            self._flushes_outstanding += 1
            self._stt_stream.flush()
        if self._final_timer:
            self._final_timer.cancel()
        self._final_timer = self.loop.call_later(
            self.config.stt_final_timeout, self._on_final_timeout
        )

    def _on_final_timeout(self) -> None:
        self._final_timer = None
        if self._flushes_outstanding:
            log.warning("STT final did not arrive in %.1fs", self.config.stt_final_timeout)
            self._flushes_outstanding = 0
            self._maybe_commit()

    async def _read_transcripts(self, stream: STTStream) -> None:
        try:
            async for result in stream:
                if not result.is_final:
                    if result.text:
                        self._emit(TranscriptPartial(text=result.text))
                    continue
                if result.text.strip():
                    self._pending_text.append(result.text.strip())
                if self._listening_turn is None and self._reply is None:
                    self._listening_turn, self._timed_out_turn = self._timed_out_turn, None
                if self._listening_turn is not None:
                    self._listening_turn.mark("stt_final", self.loop.time())
                    self._listening_turn.add_usage("stt_seconds", result.audio_seconds)
                self._flushes_outstanding = max(0, self._flushes_outstanding - 1)
                if (
                    self._turns.state is TurnState.LISTENING
                    and self._pending_text
                    and self._reply is None
                ):
                    # A final that came after its timeout still deserves an answer.
                    self._set_state(TurnState.THINKING)
                self._maybe_commit()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("STT stream failed")
            self._emit(ErrorEvent(code="stt_failed", message=str(exc)))

    def _maybe_commit(self) -> None:
        """End of the user's turn: VAD said they stopped and STT has given its final."""
        if self._flushes_outstanding or self._turns.state is not TurnState.THINKING:
            return
        if self._reply is not None:
            return
        if self._final_timer:
            self._final_timer.cancel()
            self._final_timer = None
        text = " ".join(self._pending_text).strip()
        self._pending_text.clear()
        if not text:
            self._timed_out_turn = self._listening_turn
            self._listening_turn = None
            self._set_state(TurnState.LISTENING)
            return
        self._start_reply(user_text=text, turn=self._listening_turn)
        self._listening_turn = None

    def _start_reply(
        self, *, user_text: str | None, say: str | None = None, turn: TurnTimeline | None = None
    ) -> None:
        timeline = turn or self._new_turn()
        run = ReplyRun(
            turn_id=timeline.turn_id,
            timeline=timeline,
            user_text=user_text,
            played_at_start=self._playout.played_samples,
        )
        self._reply = run
        self._set_state(TurnState.THINKING)
        if user_text is not None:
            self._emit(TranscriptFinal(text=user_text, turn_id=run.turn_id))
        run.task = self._spawn(self._responder.run(run, say=say))

    # ------------------------------------------------------------ called by the responder

    def append_history(self, message: ChatMessage) -> int:
        self.history.append(message)
        overflow = len(self.history) - self.config.max_history_messages
        if overflow > 0:
            del self.history[:overflow]
            for run in (self._reply,):
                if run and run.user_index is not None:
                    run.user_index -= overflow
        return len(self.history) - 1

    def emit(self, event: SessionEvent) -> None:
        self._emit(event)

    def enqueue_audio(self, run: ReplyRun, pcm: bytes, tts_rate: int) -> int:
        """Queue TTS audio of ``run`` for playout; returns samples queued at the pipeline rate."""
        if run is not self._reply:
            return 0
        if self._tts_resampler.in_rate != tts_rate:
            self._tts_resampler = StreamResampler(tts_rate, PIPELINE_RATE)
        out = self._tts_resampler.process(pcm)
        self._playout.push(out)
        if not run.audio_started and self._playout.queued_samples >= self._playout.frame_samples:
            # Start speaking now rather than at the next clock tick (up to 20 ms
            # later); the clock paces every following frame.
            self._on_tick(self.loop.time())
        return len(out) // 2

    def finish_synthesis(self, run: ReplyRun) -> int:
        if run is not self._reply:
            return 0
        tail = self._tts_resampler.flush()
        self._playout.push(tail)
        run.synthesis_done = True
        if not run.audio_started and self._playout.is_empty:
            # Nothing to say (empty reply or provider failure before audio).
            self._complete(run)
        return len(tail) // 2

    def fail_reply(self, run: ReplyRun, code: str, message: str) -> None:
        self._emit(ErrorEvent(code=code, message=message))
        if run is self._reply:
            run.synthesis_done = True
            if not run.audio_started:
                self._playout.flush()
                self._complete(run)

    # ------------------------------------------------------------ outbound (clock tick)

    def _on_tick(self, now: float) -> None:
        run = self._reply
        if (
            run is not None
            and not run.synthesis_done
            and self._playout.queued_samples < self._playout.frame_samples
        ):
            # Underrun mid-reply: wait for a whole frame rather than play a padded one.
            return
        frame = self._playout.pop_frame()
        if frame is None:
            if run is not None and run.synthesis_done and run.audio_started:
                self._complete(run)
            return
        if run is not None and not run.audio_started:
            run.audio_started = True
            run.timeline.mark("first_audio_out", now)
            self._set_state(TurnState.AGENT_SPEAKING)
        self._on_audio(AudioFrame(frame, PIPELINE_RATE, now))

    def _complete(self, run: ReplyRun) -> None:
        self._reply = None
        if run.audio_started:
            run.timeline.mark("agent_audio_done", self.loop.time())
            self._emit(AgentAudioDone(turn_id=run.turn_id))
        self._finish_timeline(run.timeline)
        if self._turns.state in (TurnState.AGENT_SPEAKING, TurnState.THINKING):
            self._set_state(TurnState.LISTENING)

    def _finish_timeline(self, timeline: TurnTimeline) -> None:
        self.completed.append(timeline)
        self._emit(
            TurnMetrics(
                turn_id=timeline.turn_id,
                marks=dict(timeline.marks),
                voice_to_voice_ms=timeline.voice_to_voice_ms,
                usage=dict(timeline.usage),
            )
        )

    # ------------------------------------------------------------ barge-in

    def _interrupt(self, at: float) -> bool:
        run = self._reply
        if run is None:
            return False
        self._reply = None
        if run.task is not None:
            run.task.cancel()
        self._playout.flush()
        self._tts_resampler.reset()
        lag = self._playback_lag() if self._playback_lag else 0
        played = max(0, self._playout.played_samples - run.played_at_start - lag)
        heard = heard_text(run.segments, played) if run.audio_started else ""
        if run.audio_started:
            message = ChatMessage("assistant", heard, interrupted=True)
            if run.assistant_index is not None and run.assistant_index < len(self.history):
                self.history[run.assistant_index] = message
            else:
                self.append_history(message)
        else:
            # Nothing was heard: the user simply kept talking. Their words wait
            # for the rest of the utterance and the unheard reply is forgotten.
            self._drop_unheard(run)
        run.timeline.mark("interrupted", at)
        self._emit(
            AgentInterrupted(
                turn_id=run.turn_id, heard_text=heard, played_ms=played * 1000 // PIPELINE_RATE
            )
        )
        self._finish_timeline(run.timeline)
        return True

    def _drop_unheard(self, run: ReplyRun) -> None:
        for index in sorted(
            (i for i in (run.assistant_index, run.user_index) if i is not None), reverse=True
        ):
            if index < len(self.history):
                del self.history[index]
        if run.user_text:
            self._pending_text.insert(0, run.user_text)
