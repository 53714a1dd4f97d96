"""Text-in, audio-out TTS over one WebSocket per reply (input streaming).

The HTTP adapters need a whole sentence before they can ask for audio; these
open a socket when the reply starts (overlapping the LLM's own first-token
wait), send the text as the LLM writes it, and get audio back while the
sentence is still being written. ``CloudSocketTTS`` owns connecting, the
send task, sample alignment, metering and error mapping; a subclass only says
what goes on the wire (``SocketCodec``).

``speech()`` also says which text the audio voices (``SpeechChunk``): per
character where the provider sends timings (ElevenLabs), per flushed segment
where it acknowledges flushes in order (Deepgram). Timings that do not hold up
are counted in ``alignment_faults``, logged, and the stream goes on without
them (the consumer then estimates).

Text goes on the wire a whole word at a time: what is sent ends at the last
word edge seen (whitespace, or a character of a script written without
spaces), and a trailing partial word is held back until more text completes
it, or until ``end_input()``. A flush (ours, or one the adapter decides on in
``auto_flush``) so never makes the voice say half a word and then the rest of
it as a separate piece ("Any" ... "thing"), and ElevenLabs' model never sees
text that does not end on a word. Held text is not sent, counted or aligned;
a word longer than ``MAX_HELD_CHARS`` is sent as it is (no voice waits on it).

Barge-in is ``aclose()``: the stream stops yielding at once, tells the
provider to drop its buffers where the protocol has a message for it, and
closes the socket. Each reply has its own socket, so audio still in flight for
an interrupted reply can never reach the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from pipelines.errors import ProviderError
from pipelines.providers.base import SpeechChunk
from pipelines.providers.cloud.adapter import CloudAdapter
from pipelines.providers.cloud.metrics import MetricsRecorder, MetricsSink
from pipelines.providers.cloud.tts_alignment import CharTimings, StreamAlignment
from pipelines.providers.cloud.tts_base import SAMPLE_WIDTH, SampleAligner
from pipelines.text import word_end

CONNECT_TIMEOUT = 5.0
# Bounded wait for the closing handshake on barge-in; the socket is dropped after.
CLOSE_TIMEOUT = 0.5
# Largest message accepted from the provider (base64 audio chunks are ~10-100 KiB).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Longest partial word held back from the wire (a URL, a run with no spaces).
MAX_HELD_CHARS = 200

_STOP: Final = object()
# Sockets finishing their closing handshake after aclose() (strong references).
_CLOSING: set[asyncio.Task[None]] = set()


class _NoDebugLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """``websockets`` logs the handshake headers, API key included, at DEBUG:
    its connections here never log at DEBUG, whatever the logging config."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


_WIRE_LOG = _NoDebugLog(logging.getLogger("websockets.client"), {})
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SocketEvent:
    """What one message from the provider means to the stream."""

    audio: bytes = b""
    # The provider has sent all audio for the input that was ended.
    done: bool = False
    # Counted acknowledgements of a flush (Deepgram ``Flushed``), and its number.
    flushed: bool = False
    sequence: int | None = None
    # Per-character timings of ``audio`` (ElevenLabs), when the provider sent them.
    timings: CharTimings | None = None
    # Why timings (or a flush number) the provider sent cannot be used.
    bad_alignment: str | None = None
    error: ProviderError | None = None


NOTHING = SocketEvent()


class SocketCodec:
    """The wire protocol of one provider's input-streaming endpoint."""

    def url(self) -> str:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        return {}

    def opening(self) -> list[str]:
        """Messages sent right after the handshake (configuration)."""
        return []

    def text(self, text: str) -> str:
        raise NotImplementedError

    def flush(self) -> str | None:
        """The message that asks for audio of everything sent so far, if any."""
        return None

    def end(self) -> list[str]:
        """Messages that end the input."""
        raise NotImplementedError

    def cancel(self) -> list[str]:
        """Messages asking the provider to drop what it still has (barge-in)."""
        return []

    def goodbye(self) -> list[str]:
        """Messages before closing a stream that finished normally."""
        return []

    def decode(self, message: str | bytes) -> SocketEvent:
        raise NotImplementedError

    def closed_early(self, exc: ConnectionClosed) -> ProviderError:
        """The error for a socket closed before the provider said it was done."""
        raise NotImplementedError

    # Whether ``end()`` needs the provider to acknowledge every flush first
    # (Deepgram says it is done with ``Flushed``, ElevenLabs with ``isFinal``).
    done_by_flushes: bool = False
    # Whether the provider voices each flush's text in turn and acknowledges
    # each in order, numbered from 0 (Deepgram), so flushes are text boundaries.
    flush_marks: bool = False


class StreamState(enum.Enum):
    OPEN = "open"  # text may still come
    ENDED = "ended"  # input ended; audio still coming
    DONE = "done"  # the provider sent everything
    CLOSED = "closed"  # aclose() or a failure


class CloudSocketTTS(CloudAdapter):
    """Base of the input-streaming TTS adapters. Also a plain ``TTSProvider``."""

    stage = "tts"
    sample_rate: int
    connect_timeout: float = CONNECT_TIMEOUT

    def __init__(
        self, *, name: str, base_url: str, api_key: str, on_metrics: MetricsSink | None
    ) -> None:
        super().__init__(name=name, base_url=base_url, api_key=api_key, on_metrics=on_metrics)
        # Timings from the provider that could not be used, by kind (malformed,
        # mismatch, sequence): each also stops timings for the rest of its stream.
        self.alignment_faults: Counter[str] = Counter()

    def codec(self) -> SocketCodec:
        raise NotImplementedError

    def auto_flush(self, text: str, since_flush: int, flushes: int) -> bool:
        """Whether to flush after ``text`` was sent (``since_flush`` chars unflushed).

        ``text`` ends at a word edge (but for a word past ``MAX_HELD_CHARS``)."""
        return False

    async def open_stream(self) -> SocketTTSStream:
        codec = self.codec()
        log.debug("%s: connecting to %s", self.name, codec.url())  # keys go in headers only
        try:
            ws = await connect(
                codec.url(),
                additional_headers=codec.headers(),
                open_timeout=self.connect_timeout,
                close_timeout=CLOSE_TIMEOUT,
                max_size=MAX_MESSAGE_BYTES,
                compression=None,
                logger=_WIRE_LOG,
            )
        except Exception as exc:
            rec = self._recorder()
            error = self._error(exc)
            log.debug("%s: connect failed: %s", self.name, error)
            self._publish(rec, error)
            raise error from None
        return SocketTTSStream(self, codec, ws)

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        stream = await self.open_stream()
        try:
            stream.push_text(text)
            stream.end_input()
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()


class SocketTTSStream:
    """One reply on one socket. Not reusable after it ends or is closed."""

    def __init__(self, owner: CloudSocketTTS, codec: SocketCodec, ws: ClientConnection) -> None:
        self._owner = owner
        self._codec = codec
        self._ws = ws
        self._state = StreamState.OPEN
        self._rec: MetricsRecorder = owner._recorder()
        self._started = False
        self._since_flush = 0
        self._flushes = 0
        self._acks = 0
        # The end of the text pushed that is not a whole word yet (not sent).
        self._held = ""
        self._alignment = StreamAlignment(owner.name, owner.alignment_faults, codec.flush_marks)
        self._error: BaseException | None = None
        self._closing: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[str | object] = asyncio.Queue()
        for message in codec.opening():
            self._outbox.put_nowait(message)
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    @property
    def state(self) -> StreamState:
        return self._state

    # ------------------------------------------------------------ input

    def push_text(self, text: str) -> None:
        if self._state is not StreamState.OPEN or not text:
            return
        text = self._held + text
        cut = _last_word_edge(text)
        if cut == 0 and len(text) > MAX_HELD_CHARS:
            cut = len(text)
        self._held = text[cut:]
        if cut:
            self._send(text[:cut])
            if self._owner.auto_flush(text[:cut], self._since_flush, self._flushes):
                self.flush()

    def _send(self, text: str) -> None:
        if not self._started:
            # TTFB counts from the first text: the socket was opened ahead of it.
            self._started = True
            self._rec.restart()
        self._rec.characters += len(text)
        self._since_flush += len(text)
        self._alignment.pushed(text)
        self._outbox.put_nowait(self._codec.text(text))

    def flush(self) -> None:
        """Ask for audio of the whole words sent so far (a held partial word waits)."""
        if self._state is not StreamState.OPEN or self._since_flush == 0:
            return
        message = self._codec.flush()
        if message is not None:
            self._flushes += 1
            self._since_flush = 0
            self._alignment.flushed()
            self._outbox.put_nowait(message)

    def end_input(self) -> None:
        if self._state is not StreamState.OPEN:
            return
        held, self._held = self._held, ""
        if held:
            self._send(held)  # the last word is over: the input is
        if self._codec.done_by_flushes:
            self.flush()
        self._state = StreamState.ENDED
        for message in self._codec.end():
            self._outbox.put_nowait(message)

    # ------------------------------------------------------------ output

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._audio()

    async def _audio(self) -> AsyncIterator[bytes]:
        async for chunk in self.speech():
            if chunk.audio:
                yield chunk.audio

    async def speech(self) -> AsyncIterator[SpeechChunk]:
        aligner = SampleAligner()
        bytes_per_second = self._owner.sample_rate * SAMPLE_WIDTH
        try:
            while self._state in (StreamState.OPEN, StreamState.ENDED):
                if self._ended_and_acknowledged():
                    self._state = StreamState.DONE
                    break
                try:
                    message = await self._ws.recv()
                except ConnectionClosed as exc:
                    if self._closed():
                        return  # barge-in closed it under us: nothing more to say
                    if isinstance(exc, ConnectionClosedOK) and self._state is StreamState.ENDED:
                        self._state = StreamState.DONE
                        break
                    raise self._codec.closed_early(exc) from None
                if self._closed():
                    return  # barge-in while this message was on its way: dropped
                event = self._codec.decode(message)
                if event.error is not None:
                    raise event.error
                if event.bad_alignment is not None:
                    self._alignment.fault("malformed", event.bad_alignment)
                if event.flushed:
                    marks = self._alignment.acknowledged(self._acks, event.sequence)
                    self._acks += 1
                    if marks:
                        yield SpeechChunk(marks=marks)
                if event.audio:
                    pcm = aligner.push(event.audio)
                    if pcm:
                        self._rec.first_byte()
                        self._rec.audio_seconds += len(pcm) / bytes_per_second
                    chunk = self._alignment.chunk(pcm, self._acks, event.timings)
                    if chunk.audio or chunk.marks:
                        yield chunk
                if event.done:
                    self._state = StreamState.DONE
                    break
        except ProviderError as exc:
            self._error = exc
            raise
        except Exception as exc:
            self._error = self._owner._error(exc)
            raise self._error from None
        finally:
            await self.aclose()

    def _closed(self) -> bool:
        # A method, not an inline test: aclose() changes the state while we await.
        return self._state is StreamState.CLOSED

    def _ended_and_acknowledged(self) -> bool:
        return (
            self._codec.done_by_flushes
            and self._state is StreamState.ENDED
            and self._acks >= self._flushes
        )

    # ------------------------------------------------------------ closing

    async def aclose(self) -> None:
        """Stop now. The farewell messages and the closing handshake (a network
        round trip) finish in the background, bounded by ``CLOSE_TIMEOUT``, so
        barge-in never waits on the provider."""
        if self._closing is not None:
            return
        interrupted = self._state in (StreamState.OPEN, StreamState.ENDED)
        self._state = StreamState.CLOSED
        self._held = ""  # never sent, never billed
        if self._error is None:
            farewell = self._codec.cancel() if interrupted else self._codec.goodbye()
            for message in farewell:
                self._outbox.put_nowait(message)
        self._outbox.put_nowait(_STOP)
        self._closing = asyncio.get_running_loop().create_task(self._shut())
        _CLOSING.add(self._closing)
        self._closing.add_done_callback(_CLOSING.discard)
        self._owner._publish(self._rec, self._error)

    async def wait_closed(self) -> None:
        """Until the socket is closed (tests, orderly shutdown)."""
        if self._closing is not None:
            await asyncio.shield(self._closing)

    async def _shut(self) -> None:
        try:
            with contextlib.suppress(Exception):  # TimeoutError included
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await asyncio.shield(self._sender)
                    await self._ws.close()
        finally:
            self._sender.cancel()
            self._ws.transport.abort()  # no-op after a clean close; ends a stuck one

    async def _send_loop(self) -> None:
        while (message := await self._outbox.get()) is not _STOP:
            assert isinstance(message, str)
            try:
                await self._ws.send(message)
            except ConnectionClosed:
                return  # the reader reports why


def _last_word_edge(text: str) -> int:
    """The offset after the last word that is certainly over in ``text``
    (0 when none is): ``text`` may go on, so its last word may too."""
    at = len(text)
    while at > 0 and not word_end(text, at, final=False):
        at -= 1
    return at
