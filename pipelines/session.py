"""A live conversation: audio and text in, events and paced agent audio out.

The inbound path is synchronous and driven by frame arrival (``push_audio``):
the ``InboundListener`` (VAD, pre-roll, input rate) reports speech starts and
ends, and the turn decisions run inline on them. Async work exists only at
provider I/O (STT reader, LLM and TTS in the reply task). Outbound audio is
queued in ``AgentAudio`` and paced by the process-wide ``PlayoutClock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from media.clock import PlayoutClock
from media.frames import PIPELINE_RATE, AudioFrame
from media.vad.base import (
    DeferredVoiceActivityDetector,
    VoiceActivityDetector,
)
from media.vad.detector import SpeechDetector, SpeechEvent
from pipelines.agent_audio import AgentAudio
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
from pipelines.history import ConversationHistory
from pipelines.knowledge import Retriever
from pipelines.listener import InboundListener
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
        self._listener = InboundListener(
            vad,
            self.config,
            on_speech_start=self._on_speech_start,
            on_speech_end=self._on_speech_end,
        )
        self._agent_audio = AgentAudio(tts.sample_rate)
        self._history = ConversationHistory(self.config.max_history_messages)
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

    # ------------------------------------------------------------ lifecycle

    @property
    def history(self) -> list[ChatMessage]:
        """The conversation so far, as the LLM sees it (bounded; barge-in rewrites it)."""
        return self._history.messages

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
        self._listener.stt_stream = self._stt_stream
        self._spawn(self._read_transcripts(self._stt_stream))
        self._unregister_clock = self._clock.register(self._on_tick)
        if self.config.greeting:
            self._start_reply(user_text=None, say=self.config.greeting)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._listener.close()
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

        See ``InboundListener.set_input_rate``.
        """
        self._listener.set_input_rate(sample_rate)

    def push_audio(self, frame: AudioFrame) -> None:
        """One 20 ms PCM16 frame at the input rate, stamped with its arrival time.

        The input rate is the pipeline rate unless ``set_input_rate`` said otherwise.
        """
        if self._closed:
            return
        self._listener.push_audio(frame)

    @property
    def bad_frames(self) -> int:
        """Frames dropped for arriving at a rate other than the input rate."""
        return self._listener.bad_frames

    @property
    def _detector(self) -> SpeechDetector:
        # The speech-state machine (a benchmark reads ``speaking`` from it).
        return self._listener.detector

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
            played_at_start=self._agent_audio.played_samples,
        )
        self._reply = run
        self._set_state(TurnState.THINKING)
        if user_text is not None:
            self._emit(TranscriptFinal(text=user_text, turn_id=run.turn_id))
        run.task = self._spawn(self._responder.run(run, say=say))

    # ------------------------------------------------------------ called by the responder

    def append_history(self, message: ChatMessage) -> int:
        return self._history.append(message, self._reply)

    def emit(self, event: SessionEvent) -> None:
        self._emit(event)

    def enqueue_audio(self, run: ReplyRun, pcm: bytes, tts_rate: int) -> int:
        """Queue TTS audio of ``run`` for playout; returns samples queued at the pipeline rate."""
        if run is not self._reply:
            return 0
        queued = self._agent_audio.queue(pcm, tts_rate)
        if not run.audio_started and self._agent_audio.has_frame:
            # Start speaking now rather than at the next clock tick (up to 20 ms
            # later); the clock paces every following frame.
            self._on_tick(self.loop.time())
        return queued

    def finish_synthesis(self, run: ReplyRun) -> int:
        if run is not self._reply:
            return 0
        tail = self._agent_audio.finish()
        run.synthesis_done = True
        if not run.audio_started and self._agent_audio.is_empty:
            # Nothing to say (empty reply or provider failure before audio).
            self._complete(run)
        return tail

    def fail_reply(self, run: ReplyRun, code: str, message: str) -> None:
        self._emit(ErrorEvent(code=code, message=message))
        if run is self._reply:
            run.synthesis_done = True
            if not run.audio_started:
                self._agent_audio.discard()
                self._complete(run)

    # ------------------------------------------------------------ outbound (clock tick)

    def _on_tick(self, now: float) -> None:
        run = self._reply
        if run is not None and not run.synthesis_done and not self._agent_audio.has_frame:
            # Underrun mid-reply: wait for a whole frame rather than play a padded one.
            return
        frame = self._agent_audio.pop_frame()
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
        self._agent_audio.stop()
        lag = self._playback_lag() if self._playback_lag else 0
        played = max(0, self._agent_audio.played_samples - run.played_at_start - lag)
        heard = heard_text(run.segments, played) if run.audio_started else ""
        if run.audio_started:
            self._history.heard(run, heard)
        else:
            # Nothing was heard: the user simply kept talking. Their words wait
            # for the rest of the utterance and the unheard reply is forgotten.
            self._history.forget(run)
            if run.user_text:
                self._pending_text.insert(0, run.user_text)
        run.timeline.mark("interrupted", at)
        self._emit(
            AgentInterrupted(
                turn_id=run.turn_id, heard_text=heard, played_ms=played * 1000 // PIPELINE_RATE
            )
        )
        self._finish_timeline(run.timeline)
        return True
