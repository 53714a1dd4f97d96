"""The provider boundaries: streaming STT, streaming LLM, streaming TTS.

Each is a small Protocol so that a cloud adapter, a local model and a test fake
are interchangeable. Audio crosses these boundaries as PCM16 mono bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from media.frames import AudioFrame

# ---------------------------------------------------------------- STT


@dataclass(frozen=True, slots=True)
class Transcript:
    """A partial (interim) or final transcript of the user's speech."""

    text: str
    is_final: bool
    confidence: float = 1.0
    # Audio seconds this result covers; feeds usage metering.
    audio_seconds: float = 0.0


@runtime_checkable
class STTStream(Protocol):
    """One utterance-spanning recognition stream.

    ``push_frame`` is synchronous and must not block: adapters queue the audio
    and do their I/O in their own task. ``flush`` asks for a final transcript of
    everything pushed so far (called at the VAD end of speech).
    """

    def push_frame(self, frame: AudioFrame) -> None: ...

    def flush(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[Transcript]: ...

    async def aclose(self) -> None: ...


class STTProvider(Protocol):
    name: str
    sample_rate: int

    async def open_stream(self, *, language: str = "en") -> STTStream: ...


# ---------------------------------------------------------------- LLM

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model produced it


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    # True when a barge-in cut this assistant message to what the user heard.
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    call: ToolCall
    kind: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True)
class LLMUsage:
    prompt_tokens: int
    completion_tokens: int
    kind: Literal["usage"] = "usage"


LLMEvent = TextDelta | ToolCallEvent | LLMUsage


class LLMProvider(Protocol):
    name: str

    def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[LLMEvent]: ...


# ---------------------------------------------------------------- TTS


class TTSProvider(Protocol):
    """Text in, PCM16 mono chunks out at ``sample_rate``, as soon as they exist."""

    name: str
    sample_rate: int

    def synthesize(self, text: str) -> AsyncIterator[bytes]: ...


@runtime_checkable
class TTSTextStream(Protocol):
    """One reply's speech with the text streamed in as the LLM writes it.

    ``push_text``, ``flush`` and ``end_input`` are synchronous and never block
    (the adapter sends from its own task). Iterating yields PCM16 chunks at
    the provider's ``sample_rate`` and ends after the audio for the last text
    once ``end_input`` was called. ``aclose`` is barge-in: stop now, drop
    whatever audio is still on its way; iteration then yields nothing more.
    """

    def push_text(self, text: str) -> None: ...

    def flush(self) -> None: ...

    def end_input(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TextMark:
    """By ``at_ms`` into its chunk's audio, the stream's text up to ``offset`` has been voiced.

    ``offset`` counts characters of the text pushed into the stream; ``at_ms``
    runs from the chunk's first sample (from the end of the audio so far for a
    chunk without audio).
    """

    offset: int
    at_ms: float


@dataclass(frozen=True, slots=True)
class SpeechChunk:
    """A piece of a text stream's audio, with what the provider said about its text.

    ``marks``: exact points where the voiced text stands (ElevenLabs: one per
    character; Deepgram: the end of each flushed segment, in a chunk without
    audio). ``upto``: this audio voices text no further than that offset (the
    segment being voiced), so an estimate never runs past it. ``resumes_at``:
    from this chunk on, the audio voices the text from that offset (a fallback
    voice took over and says the interrupted word again).
    """

    audio: bytes = b""
    marks: tuple[TextMark, ...] = ()
    upto: int | None = None
    resumes_at: int | None = None


@runtime_checkable
class AlignedTextStream(TTSTextStream, Protocol):
    """A ``TTSTextStream`` that can say which text its audio voices.

    ``speech()`` replaces iteration (use one or the other): it yields the same
    audio as ``SpeechChunk``s, plus chunks without audio that only carry marks.
    """

    def speech(self) -> AsyncIterator[SpeechChunk]: ...


@runtime_checkable
class TextStreamingTTS(Protocol):
    """A ``TTSProvider`` that can also take its text as a stream (one socket per reply)."""

    name: str
    sample_rate: int

    def synthesize(self, text: str) -> AsyncIterator[bytes]: ...

    async def open_stream(self) -> TTSTextStream: ...
