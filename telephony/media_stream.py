"""One Twilio Media Streams call: Twilio's messages in, a voice session, agent audio out.

Independent of the socket library: text arrives through ``receive_text``,
outgoing messages leave through an ``Outbox``. The inbound path is
synchronous from message to pipeline frame; only ``start`` awaits (resolving
the agent, opening the session).

Every message is validated before use. A bad one is logged and counted (by
code) and the call goes on; more than ``max_bad_messages`` within
``bad_window_secs`` raises ``StreamClosed`` for this socket only. Once
streaming, a media message laid out exactly as Twilio writes it is checked by
hand (``telephony.messages.twilio_media``, which accepts only what the model
would); every other message, and every bad one, goes through the model.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import ValidationError

from media.frames import FRAME_MS, AudioFrame
from media.transcode import InboundAudio, OutboundAudio
from pipelines.events import AgentAudioDone, AgentInterrupted, ErrorEvent, SessionEvent
from pipelines.session import VoiceSession
from telephony import metrics
from telephony.admission import CLOSE_POLICY, StreamAdmission, StreamIdentity
from telephony.errors import StreamClosed
from telephony.host import CallActions, Outbox, SessionHost
from telephony.messages import (
    MAX_MEDIA_BYTES,
    MAX_MESSAGE_CHARS,
    BadMessageCode,
    Connected,
    Dtmf,
    InboundMessage,
    Mark,
    Media,
    Start,
    Stop,
    clear_message,
    inbound_message,
    mark_message,
    media_message,
    twilio_media,
)
from telephony.numbers import NumberDirectory, NumberRoute
from telephony.playback import MarkOutcome, PlaybackTracker

log = logging.getLogger(__name__)

TRANSPORT = "twilio"
TWILIO_RATE = 8000
FRAME_SECS = FRAME_MS / 1000
CLOSE_NORMAL = 1000
CLOSE_OVERLOADED = 1013
MAX_DIGITS_KEPT = 256


class StreamState(StrEnum):
    AWAITING_START = "awaiting_start"
    STREAMING = "streaming"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class StreamLimits:
    max_bad_messages: int = 50  # within bad_window_secs; past it the socket closes
    bad_window_secs: float = 10.0
    max_messages_before_start: int = 8  # Twilio sends connected then start, nothing else


class BadInputBudget:
    """A sliding window of rejected messages. Pure: time is passed in."""

    def __init__(self, limit: int, window_secs: float) -> None:
        self.limit = limit
        self.window_secs = window_secs
        self._times: deque[float] = deque(maxlen=limit + 1)

    def spend(self, now: float) -> bool:
        """Record one bad message; True when the window now holds more than ``limit``."""
        self._times.append(now)
        while self._times and now - self._times[0] > self.window_secs:
            self._times.popleft()
        return len(self._times) > self.limit


class TwilioMediaStream:
    def __init__(
        self,
        host: SessionHost,
        outbox: Outbox,
        *,
        admission: StreamAdmission,
        directory: NumberDirectory | None = None,
        actions: CallActions | None = None,
        mark_every_frames: int = 5,
        limits: StreamLimits | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.host = host
        self.outbox = outbox
        self.admission = admission
        self.directory = directory
        self.actions = actions
        self.limits = limits or StreamLimits()
        self._clock = clock
        self.state = StreamState.AWAITING_START
        self.identity: StreamIdentity | None = None
        self.route: NumberRoute | None = None
        self.session: VoiceSession | None = None
        self.session_id: str | None = None
        self.tracker = PlaybackTracker(mark_every_frames)
        # Frames stay at 8 kHz: the session resamples only what STT consumes.
        self.inbound = InboundAudio("mulaw", TWILIO_RATE, output_rate=TWILIO_RATE)
        self.outbound = OutboundAudio("mulaw", TWILIO_RATE)
        self._budget = BadInputBudget(self.limits.max_bad_messages, self.limits.bad_window_secs)
        self._messages_before_start = 0
        self.bad_messages: dict[BadMessageCode, int] = {}
        self.digits: list[str] = []
        self.clears = 0
        self.last_interruption: AgentInterrupted | None = None
        self.media_received = 0
        self.media_sent = 0

    @property
    def open(self) -> bool:
        return self.state is not StreamState.STOPPED

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    # ------------------------------------------------------------ inbound

    def reject(self, code: BadMessageCode, detail: str) -> None:
        """Count and log one bad message; the call carries on unless it is a flood."""
        self.bad_messages[code] = self.bad_messages.get(code, 0) + 1
        metrics.BAD_MESSAGES.labels(code).inc()
        sid = self.identity.call_sid if self.identity else "-"
        log.warning("twilio stream %s: rejected message (%s): %s", sid, code, detail)
        if self._budget.spend(self._now()):
            raise StreamClosed(CLOSE_POLICY, "too many invalid messages")

    def receive_binary(self, data: bytes) -> None:
        self.reject("binary_frame", f"{len(data)}-byte binary frame (Twilio sends text)")

    async def receive_text(self, text: str) -> None:
        """Any message; awaits only while the stream waits for its ``start``."""
        if self.state is not StreamState.AWAITING_START:
            self.receive_streaming(text)
            return
        message = self._parse(text)
        if message is None:
            return
        await self._before_start(message)

    def receive_streaming(self, text: str) -> None:
        """One message once the stream has started: synchronous, never awaits.

        Same validation, reject codes and flood close (``StreamClosed``) as
        ``receive_text``. Before ``start`` use ``receive_text``: opening the
        session awaits.
        """
        if self.state is StreamState.AWAITING_START:
            raise RuntimeError("receive_streaming before start: use receive_text")
        media = twilio_media(text)  # 50 a second, as Twilio writes them: checked by hand
        if media is not None:
            stream_sid, track, audio = media
            if self._media_allowed(stream_sid, track):
                self._on_audio(audio)
            return
        message = self._parse(text)  # anything else, and every bad message: the model
        if type(message) is Media:  # a media message with fields beyond the fast path's
            self._on_media(message.streamSid, message.media.track, message.media.payload)
        elif message is not None:
            self._dispatch(message)

    def _parse(self, text: str) -> InboundMessage | None:
        if len(text) > MAX_MESSAGE_CHARS:
            self.reject("message_too_large", f"{len(text)} characters > {MAX_MESSAGE_CHARS}")
            return None
        try:
            return inbound_message.validate_json(text)
        except ValidationError as exc:
            self.reject(*_classify(exc))
            return None

    def _dispatch(self, message: InboundMessage) -> None:
        match message:
            case Media():
                self._on_media(message.streamSid, message.media.track, message.media.payload)
            case Mark():
                self._on_mark(message)
            case Dtmf():
                self._on_dtmf(message)
            case Stop():
                if self._check_sid(message.streamSid):
                    self.state = StreamState.STOPPED
            case Start():
                self.reject("duplicate_start", "the stream has already started")
            case Connected():
                self.reject("unexpected_connected", "connected after start")

    async def _before_start(self, message: object) -> None:
        self._messages_before_start += 1
        if self._messages_before_start > self.limits.max_messages_before_start:
            raise StreamClosed(CLOSE_POLICY, "no start message")
        match message:
            case Start():
                await self._start(message)
            case Connected():
                pass
            case Stop():
                self.state = StreamState.STOPPED
            case Media():
                self.reject("media_before_start", "media before start")
            case _:
                self.reject("before_start", "message before start")

    async def _start(self, message: Start) -> None:
        identity = self.admission.admit(message)
        if self.host.full:
            raise StreamClosed(CLOSE_OVERLOADED, "server at capacity")
        try:
            spec = await self.host.resolve(identity.agent_id, None)
        except LookupError as exc:
            raise StreamClosed(CLOSE_POLICY, f"unknown agent {identity.agent_id!r}") from exc
        except PermissionError as exc:
            raise StreamClosed(CLOSE_POLICY, "agent not allowed") from exc
        if self.directory is not None and identity.number:
            self.route = await self.directory.lookup(identity.number)
        self.identity = identity
        self.session_id = f"twilio-{identity.stream_sid}"
        self.state = StreamState.STREAMING
        self.session = await self.host.open_session(
            self.session_id,
            spec,
            transport=TRANSPORT,
            on_event=self._on_event,
            on_audio=self._on_agent_audio,
            playback_lag=lambda: self.tracker.lag,
        )
        self.session.set_input_rate(TWILIO_RATE)
        metrics.STREAMS_ACTIVE.inc()
        log.info("twilio stream %s started: call %s, agent %s",
                 identity.stream_sid, identity.call_sid, identity.agent_id)  # fmt: skip

    def _check_sid(self, stream_sid: str) -> bool:
        if self.identity is None:  # stopped before it ever started
            self.reject("before_start", "the stream never started")
            return False
        if stream_sid != self.identity.stream_sid:
            self.reject("wrong_stream_sid", f"streamSid {stream_sid!r} is not this stream's")
            return False
        return True

    def _on_media(self, stream_sid: str, track: str, payload: str) -> None:
        if not self._media_allowed(stream_sid, track):
            return
        try:
            # Strict: only the base64 alphabet, padding only at the end.
            audio = binascii.a2b_base64(payload, strict_mode=True)
        except ValueError as exc:  # binascii.Error, or a non-ASCII str
            self.reject("bad_base64", f"payload is not base64: {exc}")
            return
        self._on_audio(audio)

    def _media_allowed(self, stream_sid: str, track: str) -> bool:
        """This stream's sid and the inbound track; anything else is rejected."""
        identity = self.identity
        if identity is None or stream_sid != identity.stream_sid:
            self._check_sid(stream_sid)  # rejects it
            return False
        if track != "inbound":
            self.reject("unexpected_track", f"media on track {track!r}")
            return False
        return True

    def _on_audio(self, data: bytes) -> None:
        """A media message's decoded payload, from this stream's inbound track."""
        if not data:
            self.reject("empty_media", "media payload is empty")
            return
        if len(data) > MAX_MEDIA_BYTES:
            self.reject("frame_too_large", f"{len(data)} bytes of audio > {MAX_MEDIA_BYTES}")
            return
        self.media_received += 1
        frames = self.inbound.push(data)
        session = self.session
        if session is None or not frames:
            return
        # The message's audio ended on arrival: date each frame back from now.
        now = self._now()
        count = len(frames)
        for index, pcm in enumerate(frames):
            session.push_audio(AudioFrame(pcm, TWILIO_RATE, now - (count - index) * FRAME_SECS))

    def _on_mark(self, message: Mark) -> None:
        if not self._check_sid(message.streamSid):
            return
        outcome = self.tracker.on_mark(message.mark.name)
        metrics.MARKS.labels(outcome.value).inc()
        if outcome is MarkOutcome.UNKNOWN:
            self.reject("unknown_mark", f"mark {message.mark.name[:64]!r} was never sent")

    def _on_dtmf(self, message: Dtmf) -> None:
        if not self._check_sid(message.streamSid):
            return
        digit = message.dtmf.digit
        if len(self.digits) < MAX_DIGITS_KEPT:
            self.digits.append(digit)
        assert self.identity is not None
        call_sid = self.identity.call_sid
        route = self.route
        rule = route.dtmf.get(digit) if route else None
        action: str = rule.kind if rule else "none"
        if rule is not None and rule.kind == "transfer":
            number = rule.value or (route.transfer_to if route else None)
            if self.actions is not None and number:
                self.actions.transfer(call_sid, number)
            else:
                action = "unavailable"
        elif rule is not None and rule.kind == "hangup":
            if self.actions is not None:
                self.actions.hang_up(call_sid)
            else:
                action = "unavailable"
        elif rule is not None and rule.kind == "text" and rule.value and self.session:
            self.session.push_text(rule.value)
        elif (route is None or route.dtmf_to_agent) and self.session is not None:
            # No rule: the agent hears the key as a short user turn.
            self.session.push_text(f"[keypad] {digit}")
            action = "agent"
        metrics.DTMF.labels(action).inc()
        log.info("twilio call %s: keypad %s -> %s", call_sid, digit, action)

    # ------------------------------------------------------------ outbound

    def _on_agent_audio(self, frame: AudioFrame) -> None:
        identity = self.identity
        if identity is None or self.state is not StreamState.STREAMING:
            return
        payload = binascii.b2a_base64(self.outbound.convert(frame.pcm), newline=False).decode()
        self.outbox.send(media_message(identity.stream_sid, payload), audio=True)
        self.media_sent += 1
        mark = self.tracker.on_sent(frame.sample_count)
        if mark is not None:
            self.outbox.send(mark_message(identity.stream_sid, mark), audio=True)

    def _on_event(self, event: SessionEvent) -> None:
        identity = self.identity
        if identity is None or self.state is not StreamState.STREAMING:
            return
        if isinstance(event, AgentInterrupted):
            # Same tick as the barge-in: Twilio drops what it buffered, and so do we.
            self.outbox.drop_audio()
            self.outbox.send(clear_message(identity.stream_sid))
            self.outbound.reset()
            self.tracker.clear()
            self.clears += 1
            self.last_interruption = event
        elif isinstance(event, AgentAudioDone):
            # The reply's last few ms are still in the resampler: send them
            # before the mark that says the reply was played.
            tail = self.outbound.flush()
            if tail:
                payload = binascii.b2a_base64(tail, newline=False).decode()
                self.outbox.send(media_message(identity.stream_sid, payload), audio=True)
                self.media_sent += 1
            mark = self.tracker.flush()
            if mark is not None:
                self.outbox.send(mark_message(identity.stream_sid, mark), audio=True)
        elif isinstance(event, ErrorEvent):
            log.warning("twilio call %s: %s: %s", identity.call_sid, event.code, event.message)

    # ------------------------------------------------------------ lifecycle

    async def aclose(self, reason: str = "closed") -> None:
        was_streaming = self.session is not None
        self.state = StreamState.STOPPED
        if self.session_id is not None:
            await self.host.close_session(self.session_id, TRANSPORT)
            self.session = None
            self.session_id = None
        if was_streaming:
            metrics.STREAMS_ACTIVE.dec()
        metrics.STREAMS_CLOSED.labels(reason).inc()


def _classify(exc: ValidationError) -> tuple[BadMessageCode, str]:
    """The bad-message code for a failed parse, and a short description."""
    first = exc.errors()[0]
    kind = first["type"]
    where = ".".join(str(p) for p in first["loc"])
    detail = f"{where}: {first['msg']}" if where else first["msg"]
    if kind == "json_invalid":
        return "invalid_json", detail
    if kind in ("dict_type", "model_type", "model_attributes_type") and not where:
        return "not_an_object", detail
    if kind == "union_tag_invalid":
        return "unknown_event", detail
    if kind in ("union_tag_not_found", "missing"):
        return "missing_field", detail
    if kind == "string_too_long" and where.endswith("media.payload"):
        return "frame_too_large", detail
    return "invalid_field", detail
